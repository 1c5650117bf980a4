"""Conversions between the protocol's messages and Python values, and the
checks both sides apply to batches and results (core.Batch.Check and
core.CheckResult in Go)."""

import math

import numpy as np

from . import inputs as vocab
from .errors import Code, InputError, PrefoptError, ReplyError, from_diagnostic, join
from .spec import BOOL, FLOAT, INT, STRING, Param, Spec
from ._proto import objective_pb2 as pb

_PTYPE = {FLOAT: pb.PARAM_TYPE_FLOAT, INT: pb.PARAM_TYPE_INT, BOOL: pb.PARAM_TYPE_BOOL, STRING: pb.PARAM_TYPE_STRING}
_PTYPE_BACK = {v: k for k, v in _PTYPE.items()}


def value_to_pb(v):
    """Returns the pb.Value of a bool, int, float or str."""
    if isinstance(v, bool):
        return pb.Value(bool=v)
    if isinstance(v, (int, np.integer)):
        return pb.Value(int=int(v))
    if isinstance(v, (float, np.floating)):
        return pb.Value(float=float(v))
    if isinstance(v, str):
        return pb.Value(string=v)
    raise TypeError("unsupported parameter value of type %s" % type(v).__name__)


def value_from_pb(v):
    """Returns the Python value of a pb.Value, None if empty."""
    kind = v.WhichOneof("kind")
    return None if kind is None else getattr(v, kind)


def spec_to_pb(s):
    out = pb.Spec(name=s.name, version=s.version, doc=s.doc)
    for p in s.params:
        ps = out.params.add(name=p.name, type=_PTYPE[p.type], doc=p.doc, min_exclusive=p.min_exclusive,
                            max_exclusive=p.max_exclusive, enum=list(p.enum))
        if p.min is not None:
            ps.min = float(p.min)
        if p.max is not None:
            ps.max = float(p.max)
        if p.default is not None:
            ps.default.CopyFrom(value_to_pb(p.coerce(p.default)))
    return out


def spec_from_pb(s):
    params = []
    for p in s.params:
        params.append(Param(
            name=p.name, type=_PTYPE_BACK.get(p.type, "unspecified"),
            default=value_from_pb(p.default) if p.HasField("default") else None, doc=p.doc,
            min=p.min if p.HasField("min") else None, max=p.max if p.HasField("max") else None,
            min_exclusive=p.min_exclusive, max_exclusive=p.max_exclusive, enum=tuple(p.enum)))
    return Spec(name=s.name, version=s.version, doc=s.doc, params=params)


def array_from_pb(name, a):
    """Returns the numpy array an Array carries: float64, int64 or bool.

    The element type comes from the input's kind when the name is known,
    else from the field the array uses."""
    f = vocab.lookup(name)
    used = [k for k in ("floats", "ints", "bools") if len(getattr(a, k))]
    if f is not None:
        want = {vocab.FLOAT: "floats", vocab.COUNT: "ints", vocab.BOOL: "bools"}[f.kind]
        if used and used != [want]:
            raise InputError(Code.OUT_OF_RANGE, name,
                             "is a %s input but the array holds another element type" % f.kind)
        kind = want
    elif len(used) > 1:
        raise InputError(Code.OUT_OF_RANGE, name, "array holds more than one element type")
    else:
        kind = used[0] if used else "floats"
    dtype = {"floats": np.float64, "ints": np.int64, "bools": np.bool_}[kind]
    return np.array(getattr(a, kind), dtype=dtype)


def array_to_pb(a, out):
    """Fills the pb.Array out from a one-dimensional array-like."""
    a = np.asarray(a)
    if a.dtype == np.bool_:
        out.bools.extend(a.tolist())
    elif np.issubdtype(a.dtype, np.integer):
        out.ints.extend(a.tolist())
    else:
        out.floats.extend(np.asarray(a, dtype=np.float64).tolist())


def diagnostics_to_pb(err, out):
    """Appends the diagnostics of a PrefoptError (all of its errors) to out."""
    for e in getattr(err, "errors", [err]):
        if isinstance(e, PrefoptError):
            code = e.code if e.code != Code.UNSPECIFIED else Code.INTERNAL
            out.add(code=int(code), message=e.msg, field=e.field, index=int(e.index), value=float(e.value))
        else:
            out.add(code=int(Code.INTERNAL), message="%s: %s" % (type(e).__name__, e), index=-1)


def error_from_pb(diags):
    """Returns the exception for wire diagnostics, None when there are none."""
    return join([from_diagnostic(d.code, d.message, d.field, d.index, d.value) for d in diags])


def check_batch(batch, names):
    """Checks the inputs ``names`` of batch (a dict of numpy arrays) as
    core.Batch.Check does: present, non-empty, equal lengths per layout,
    finite floats, non-negative counts. Raises InputError."""
    size, first = {}, {}
    for name in names:
        if name not in batch:
            raise InputError(Code.MISSING_INPUT, name, "required by the objective but absent")
        a = batch[name]
        n = len(a)
        if n == 0:
            raise InputError(Code.EMPTY_BATCH, name, "empty batch")
        f = vocab.lookup(name)
        layout = f.layout if f else None
        if layout is not None:
            if layout in size and size[layout] != n:
                raise InputError(Code.LENGTH_MISMATCH, name,
                                 "has %d elements but %s has %d" % (n, first[layout], size[layout]))
            size[layout], first[layout] = n, name
        if a.dtype == np.float64:
            bad = np.flatnonzero(~np.isfinite(a))
            if bad.size:
                i = int(bad[0])
                raise InputError(Code.NON_FINITE, name, "not finite", index=i, value=float(a[i]))
        elif a.dtype == np.int64:
            bad = np.flatnonzero(a < 0)
            if bad.size:
                i = int(bad[0])
                raise InputError(Code.OUT_OF_RANGE, name, "negative token count", index=i, value=float(a[i]))


def _first_non_finite(a):
    bad = np.flatnonzero(~np.isfinite(a))
    return int(bad[0]) if bad.size else -1


def check_result(batch, names, loss, losses, grads, metrics):
    """Validates a result against the batch and the inputs read, as
    core.CheckResult does. Raises ReplyError."""
    if not math.isfinite(loss):
        raise ReplyError("not finite (got %s)" % loss, field="loss")
    policy = [n for n in names if vocab.is_policy(n)]
    if policy:
        n = len(batch[policy[0]])
        if len(losses) != n:
            raise ReplyError("has %d values for %d examples" % (len(losses), n), field="losses")
    i = _first_non_finite(losses)
    if i >= 0:
        raise ReplyError("not finite", field="losses", index=i, value=float(losses[i]))
    for name in policy:
        g = grads.get(name)
        field = "grads." + name
        if g is None:
            raise ReplyError("missing gradient for a policy input", field=field)
        if len(g) != len(batch[name]):
            raise ReplyError("has %d values for %d inputs" % (len(g), len(batch[name])), field=field)
        i = _first_non_finite(g)
        if i >= 0:
            raise ReplyError("not finite", field=field, index=i, value=float(g[i]))
    for name in sorted(grads):
        if name not in policy:
            raise ReplyError("gradient for an input that is not a policy input the objective read",
                             field="grads." + name)
    for name in sorted(metrics):
        if not math.isfinite(metrics[name]):
            raise ReplyError("not finite (got %s)" % metrics[name], field="metrics." + name)
