"""Objective specs and parameter resolution, as the Go SDK does them.

An objective publishes a :class:`Spec`: its name, version, doc and
:class:`Param` list. :meth:`Spec.resolve` checks the user's raw values
(types, bounds, enums, list lengths, unknown names) and fills defaults; every
problem is a
:class:`prefopt.errors.ParamError` with the Go SDK's message, so a user sees
the same text whichever language the objective is written in.
"""

import dataclasses
import json
import math
from typing import Any, Optional, Sequence

from .errors import ParamError, go_float, join

FLOAT, INT, BOOL, STRING = "float", "int", "bool", "string"
FLOAT_LIST, INT_LIST, STRING_LIST = "float_list", "int_list", "string_list"
TYPES = (FLOAT, INT, BOOL, STRING, FLOAT_LIST, INT_LIST, STRING_LIST)
LIST_TYPES = (FLOAT_LIST, INT_LIST, STRING_LIST)
_ELEM = {FLOAT_LIST: FLOAT, INT_LIST: INT, STRING_LIST: STRING}
_PY_TYPES = {float: FLOAT, int: INT, bool: BOOL, str: STRING}


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter. ``type`` is "float", "int", "bool" or "string" (or the
    Python type float, int, bool, str), or "float_list", "int_list",
    "string_list" (FLOAT_LIST, ...; resolved to a Python list). ``default``
    None means optional and absent unless set. ``min``/``max`` bound a
    numeric parameter or each element of a numeric list (strict with
    ``min_exclusive``/``max_exclusive``); ``enum`` lists the values of a
    string or of each element of a string list. ``min_items`` and
    ``max_items`` bound a list's length (``max_items`` 0: no bound);
    ``same_length_as`` names another list parameter whose length this one's
    must equal whenever both have values."""

    name: str
    type: Any
    default: Any = None
    doc: str = ""
    min: Optional[float] = None
    max: Optional[float] = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    enum: Sequence[str] = ()
    min_items: int = 0
    max_items: int = 0
    same_length_as: str = ""

    def __post_init__(self):
        object.__setattr__(self, "type", _PY_TYPES.get(self.type, self.type))
        object.__setattr__(self, "enum", tuple(self.enum))
        if isinstance(self.default, (list, tuple)):
            object.__setattr__(self, "default", tuple(self.default))

    def coerce(self, v):
        """Returns v converted to the parameter's type (a list for a list
        type); raises ParamError."""

        def bad(msg):
            return ParamError(self.name, msg)

        if self.type in LIST_TYPES:
            return self._coerce_list(v)

        if self.type == FLOAT:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad("must be a number, got %s" % _describe(v))
            f = float(v)
            if not math.isfinite(f):
                raise bad("must be finite, got %s" % go_float(f))
            self._check_bounds(f)
            return f
        if self.type == INT:
            if isinstance(v, bool):
                raise bad("must be an integer, got %s" % _describe(v))
            if isinstance(v, float):
                if not math.isfinite(v) or v != math.trunc(v) or abs(v) > 2**53:
                    raise bad("must be an integer, got %s" % go_float(v))
                v = int(v)
            if not isinstance(v, int):
                raise bad("must be an integer, got %s" % _describe(v))
            self._check_bounds(float(v))
            return v
        if self.type == BOOL:
            if not isinstance(v, bool):
                raise bad("must be true or false, got %s" % _describe(v))
            return v
        if self.type == STRING:
            if not isinstance(v, str):
                raise bad("must be a string, got %s" % _describe(v))
            if self.enum and v not in self.enum:
                raise bad("must be one of %s, got %s" % (", ".join(self.enum), json.dumps(v)))
            return v
        raise bad("has unknown type %s" % self.type)

    def _coerce_list(self, v):
        if isinstance(v, tuple) or (isinstance(v, list)):
            elems = list(v)
        elif isinstance(v, (str, bool, int, float)):
            # A single value is a list of one, as in Go (TRL takes
            # loss_type = "sigmoid" for ["sigmoid"]).
            elems = [v]
        else:
            raise ParamError(self.name, "must be a list of %ss, got %s" % (_ELEM[self.type], _describe(v)))
        n = len(elems)
        if n < self.min_items or self.max_items > 0 and n > self.max_items:
            want = "at least %d" % self.min_items
            if self.max_items > 0:
                want = "%d to %d" % (self.min_items, self.max_items)
            raise ParamError(self.name, "must have %s elements, got %d" % (want, n))
        elem = dataclasses.replace(self, type=_ELEM[self.type], default=None, min_items=0, max_items=0,
                                   same_length_as="")
        out = []
        for i, e in enumerate(elems):
            try:
                out.append(elem.coerce(e))
            except ParamError as err:
                raise ParamError(self.name, "element %d %s" % (i, err.msg)) from None
        return out

    def _check_bounds(self, f):
        if self.min is not None and (f < self.min or self.min_exclusive and f == self.min):
            op = ">" if self.min_exclusive else ">="
            raise ParamError(self.name, "must be %s %s, got %s" % (op, go_float(self.min), go_float(f)))
        if self.max is not None and (f > self.max or self.max_exclusive and f == self.max):
            op = "<" if self.max_exclusive else "<="
            raise ParamError(self.name, "must be %s %s, got %s" % (op, go_float(self.max), go_float(f)))


def _describe(v):
    if isinstance(v, str):
        return "string %s" % json.dumps(v)
    if isinstance(v, bool):
        return "bool %s" % ("true" if v else "false")
    if isinstance(v, float):
        return "float %s" % go_float(v)
    if isinstance(v, int):
        return "integer %d" % v
    if v is None:
        return "nothing"
    if isinstance(v, (list, tuple)):
        return "list [%s]" % " ".join(_go_elem(x) for x in v)
    return type(v).__name__


def _go_elem(x):
    # An element as Go's %v prints it inside a slice.
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return go_float(x)
    return str(x)


class Params(dict):
    """Resolved parameter values (set and default); ``set`` holds the names
    the user set."""

    def __init__(self, values, set_names):
        super().__init__(values)
        self.set = frozenset(set_names)

    def is_set(self, name):
        """Reports whether the user set the named parameter."""
        return name in self.set


@dataclasses.dataclass(frozen=True)
class Spec:
    """What an objective publishes about itself."""

    name: str
    version: str = ""
    doc: str = ""
    params: Sequence[Param] = ()

    def __post_init__(self):
        object.__setattr__(self, "params", tuple(self.params))

    def param(self, name):
        """Returns the named Param or None."""
        for p in self.params:
            if p.name == name:
                return p
        return None

    def validate(self):
        """Checks the spec itself; raises ValueError (a programmer error)."""
        if not self.name:
            raise ValueError("prefopt.spec: empty name")
        seen = set()
        for p in self.params:
            if not p.name:
                raise ValueError("prefopt.spec %s: parameter with empty name" % self.name)
            if p.name in seen:
                raise ValueError('prefopt.spec %s: duplicate parameter "%s"' % (self.name, p.name))
            seen.add(p.name)
            if p.type not in TYPES:
                raise ValueError('prefopt.spec %s: parameter "%s": unknown type %s' % (self.name, p.name, p.type))
            if p.type not in LIST_TYPES and (p.min_items or p.max_items or p.same_length_as):
                raise ValueError('prefopt.spec %s: parameter "%s": min_items, max_items and same_length_as apply '
                                 'only to lists' % (self.name, p.name))
            if p.min_items < 0 or p.max_items < 0 or p.max_items and p.max_items < p.min_items:
                raise ValueError('prefopt.spec %s: parameter "%s": want 0 <= min_items <= max_items (or max_items 0), '
                                 'got %d and %d' % (self.name, p.name, p.min_items, p.max_items))
            if p.same_length_as:
                o = self.param(p.same_length_as)
                if o is None or o.type not in LIST_TYPES or o.name == p.name:
                    raise ValueError('prefopt.spec %s: parameter "%s": same_length_as "%s" is not another list '
                                     'parameter' % (self.name, p.name, p.same_length_as))
                if p.default is not None and o.default is not None and len(p.default) != len(o.default):
                    raise ValueError("prefopt.spec %s: parameter \"%s\": default has %d elements but the default of "
                                     "%s has %d" % (self.name, p.name, len(p.default), o.name, len(o.default)))
            if p.default is not None:
                try:
                    p.coerce(p.default)
                except ParamError as e:
                    raise ValueError("prefopt.spec %s: default of %s" % (self.name, e)) from None

    def resolve(self, raw):
        """Checks raw user values against the spec and fills defaults.

        Returns Params; raises ParamError (``errors`` lists every problem:
        by parameter name, then the same_length_as mismatches in spec order)
        like the Go SDK's Spec.Resolve.
        """
        values, errs = {}, []
        for name in sorted(raw):
            p = self.param(name)
            if p is None:
                known = ", ".join(sorted(q.name for q in self.params)) or "none"
                errs.append(ParamError(name, "unknown parameter of %s (known: %s)" % (self.name, known)))
                continue
            try:
                values[name] = p.coerce(raw[name])
            except ParamError as e:
                errs.append(e)
        set_names = set(values)
        for p in self.params:
            if p.name not in values and p.default is not None:
                values[p.name] = p.coerce(p.default)
        for p in self.params:
            if not p.same_length_as or p.name not in values or p.same_length_as not in values:
                continue
            n, m = len(values[p.name]), len(values[p.same_length_as])
            if n != m:
                errs.append(ParamError(p.name, "must have as many elements as %s (%d), got %d"
                                       % (p.same_length_as, m, n)))
        if errs:
            raise join(errs)
        return Params(values, set_names)
