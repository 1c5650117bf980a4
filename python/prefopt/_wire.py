"""Conversions between the protocol's messages and Python values, and the
checks both sides apply to batches and results (core.Batch.Check and
core.CheckResult in Go)."""

import math

import numpy as np

from . import inputs as vocab
from .errors import Code, InputError, PrefoptError, ReplyError, from_diagnostic, go_float, join
from .ragged import Ragged
from .spec import BOOL, FLOAT, FLOAT_LIST, INT, INT_LIST, STRING, STRING_LIST, Param, Spec
from ._proto import objective_pb2 as pb

_PTYPE = {FLOAT: pb.PARAM_TYPE_FLOAT, INT: pb.PARAM_TYPE_INT, BOOL: pb.PARAM_TYPE_BOOL, STRING: pb.PARAM_TYPE_STRING,
          FLOAT_LIST: pb.PARAM_TYPE_FLOAT_LIST, INT_LIST: pb.PARAM_TYPE_INT_LIST,
          STRING_LIST: pb.PARAM_TYPE_STRING_LIST}
_PTYPE_BACK = {v: k for k, v in _PTYPE.items()}

# Limits on the metrics of one result (core.MaxMetrics, core.MaxMetricNameBytes).
MAX_METRICS = 256
MAX_METRIC_NAME_BYTES = 128


def value_to_pb(v, ptype=None):
    """Returns the pb.Value of a bool, int, float, str or list of them.

    A list becomes the list kind of ptype when given (a resolved value of a
    list parameter), else as the Go host encodes user lists: strings →
    string list, numbers with any float → float list, integers (or an empty
    list) → int list. Raises TypeError for other values."""
    if isinstance(v, bool):
        return pb.Value(bool=v)
    if isinstance(v, (int, np.integer)):
        return pb.Value(int=int(v))
    if isinstance(v, (float, np.floating)):
        return pb.Value(float=float(v))
    if isinstance(v, str):
        return pb.Value(string=v)
    if isinstance(v, (list, tuple, np.ndarray)):
        xs = list(v.tolist() if isinstance(v, np.ndarray) else v)
        if ptype == FLOAT_LIST:
            return pb.Value(float_list=pb.FloatList(values=[float(x) for x in xs]))
        if ptype == INT_LIST:
            return pb.Value(int_list=pb.IntList(values=[int(x) for x in xs]))
        if ptype == STRING_LIST:
            return pb.Value(string_list=pb.StringList(values=list(xs)))
        for i, x in enumerate(xs):
            if isinstance(x, bool) or not isinstance(x, (int, float, str, np.integer, np.floating)):
                raise TypeError("list element %d: unsupported value of type %s" % (i, type(x).__name__))
        strs = [x for x in xs if isinstance(x, str)]
        if strs and len(strs) != len(xs):
            raise TypeError("list mixes strings and numbers")
        if strs:
            return pb.Value(string_list=pb.StringList(values=strs))
        if any(isinstance(x, (float, np.floating)) for x in xs):
            return pb.Value(float_list=pb.FloatList(values=[float(x) for x in xs]))
        return pb.Value(int_list=pb.IntList(values=[int(x) for x in xs]))
    raise TypeError("unsupported parameter value of type %s" % type(v).__name__)


def value_from_pb(v):
    """Returns the Python value of a pb.Value (a list for list kinds), None
    if empty."""
    kind = v.WhichOneof("kind")
    if kind is None:
        return None
    if kind.endswith("_list"):
        return list(getattr(v, kind).values)
    return getattr(v, kind)


def spec_to_pb(s):
    out = pb.Spec(name=s.name, version=s.version, doc=s.doc)
    for p in s.params:
        ps = out.params.add(name=p.name, type=_PTYPE[p.type], doc=p.doc, min_exclusive=p.min_exclusive,
                            max_exclusive=p.max_exclusive, enum=list(p.enum), min_items=p.min_items,
                            max_items=p.max_items, same_length_as=p.same_length_as)
        if p.min is not None:
            ps.min = float(p.min)
        if p.max is not None:
            ps.max = float(p.max)
        if p.default is not None:
            ps.default.CopyFrom(value_to_pb(p.coerce(p.default), p.type))
    return out


def spec_from_pb(s):
    params = []
    for p in s.params:
        params.append(Param(
            name=p.name, type=_PTYPE_BACK.get(p.type, "unspecified"),
            default=value_from_pb(p.default) if p.HasField("default") else None, doc=p.doc,
            min=p.min if p.HasField("min") else None, max=p.max if p.HasField("max") else None,
            min_exclusive=p.min_exclusive, max_exclusive=p.max_exclusive, enum=tuple(p.enum),
            min_items=p.min_items, max_items=p.max_items, same_length_as=p.same_length_as))
    return Spec(name=s.name, version=s.version, doc=s.doc, params=params)


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def floats_from_pb(a):
    """Returns a.floats (an Array's field 1) as a float64 array.

    Converting the repeated field element by element costs ~0.1 µs per
    value; this reads the packed little-endian doubles of the serialised
    message instead (protobuf writes fields in number order, so field 1
    comes first), and falls back to the element-wise copy if the bytes are
    not laid out that way."""
    n = len(a.floats)
    if n == 0:
        return np.zeros(0)
    data = a.SerializeToString()
    i, size, shift = 1, 0, 0
    while i < len(data):
        b = data[i]
        size |= (b & 0x7F) << shift
        i += 1
        shift += 7
        if b < 0x80:
            break
    if data[0] != 0x0A or size != 8 * n or i + size > len(data):
        return np.array(a.floats, dtype=np.float64)
    return np.frombuffer(data, dtype="<f8", count=n, offset=i).astype(np.float64)


def floats_to_pb(values, out):
    """Appends the float64 values to out.floats (an Array's field 1) as one
    packed block parsed by protobuf, not element by element."""
    v = np.ascontiguousarray(values, dtype="<f8").reshape(-1)
    if v.size:
        out.MergeFromString(b"\x0a" + _varint(v.nbytes) + v.tobytes())


def _ragged_from_pb(name, a):
    flat, lens = floats_from_pb(a), np.array(a.row_lengths, dtype=np.int64)
    off = 0
    for i, n in enumerate(lens.tolist()):
        if n < 0 or n > len(flat) - off:
            raise InputError(Code.LENGTH_MISMATCH, name,
                             "row %d of length %d overruns the %d packed values" % (i, n, len(flat)))
        off += n
    if off != len(flat):
        raise InputError(Code.LENGTH_MISMATCH, name,
                         "row lengths add up to %d but %d values are packed" % (off, len(flat)))
    return Ragged(flat, lens)


def array_from_pb(name, a):
    """Returns the value an Array carries: a float64, int64 or bool numpy
    array, or a Ragged for a per-token input.

    The element type comes from the input's kind when the name is known,
    else from the field the array uses. Raises InputError as the Go SDK
    does for a wrong element type or inconsistent row lengths."""
    f = vocab.lookup(name)
    used = [k for k in ("floats", "ints", "bools") if len(getattr(a, k))]
    if f is not None:
        if f.kind != vocab.TOKEN_FLOAT and len(a.row_lengths):
            raise InputError(Code.LENGTH_MISMATCH, name, "is one value per example but the array has row lengths")
        want = {vocab.FLOAT: "floats", vocab.TOKEN_FLOAT: "floats", vocab.COUNT: "ints", vocab.BOOL: "bools"}[f.kind]
        if used and used != [want]:
            raise InputError(Code.OUT_OF_RANGE, name,
                             "is a %s input but the array holds another element type" % f.kind.replace("token", "per-token"))
        if f.kind == vocab.TOKEN_FLOAT:
            return _ragged_from_pb(name, a)
        kind = want
    elif len(used) > 1:
        raise InputError(Code.OUT_OF_RANGE, name, "array holds more than one element type")
    else:
        kind = used[0] if used else "floats"
    if kind == "floats":
        return floats_from_pb(a)
    dtype = {"ints": np.int64, "bools": np.bool_}[kind]
    return np.array(getattr(a, kind), dtype=dtype)


def array_to_pb(a, out):
    """Fills the pb.Array out from a Ragged or a one-dimensional array-like."""
    if isinstance(a, Ragged):
        floats_to_pb(a.values, out)
        out.row_lengths.extend(a.lengths.tolist())
        return
    a = np.asarray(a)
    if a.dtype == np.bool_:
        out.bools.extend(a.tolist())
    elif np.issubdtype(a.dtype, np.integer):
        out.ints.extend(a.tolist())
    else:
        floats_to_pb(a, out)


def grad_from_pb(a):
    """Returns a reply's gradient: a Ragged when it has row lengths, else a
    float64 array. Row lengths that do not match the packed values still
    yield rows (the last takes any surplus, short rows stay short), so that
    check_result reports the mismatch against the batch's shape."""
    flat = floats_from_pb(a)
    if not len(a.row_lengths):
        return flat
    lens = list(a.row_lengths)
    if min(lens) >= 0 and sum(lens) == len(flat):
        return Ragged(flat, lens)
    rows, off = [], 0
    for i, n in enumerate(lens):
        end = len(flat) if i == len(lens) - 1 else min(off + max(n, 0), len(flat))
        rows.append(flat[off:end])
        off = end
    return Ragged.from_rows(rows)


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


def _first_non_finite(a):
    bad = np.flatnonzero(~np.isfinite(a))
    return int(bad[0]) if bad.size else -1


def check_batch(batch, names):
    """Checks the inputs ``names`` of batch (a dict of numpy arrays and, for
    per-token inputs, Ragged values) as core.Batch.Check does: present,
    non-empty, equal lengths per layout, finite floats, non-negative counts;
    a per-token input's lengths input named too, and row i holding exactly
    that input's entry i values; data columns as long as the layout of the
    other inputs. Raises InputError for the first problem."""
    size, first, columns = {}, {}, []
    for name in names:
        if name not in batch:
            raise InputError(Code.MISSING_INPUT, name, "required by the objective but absent")
        a = batch[name]
        n = len(a)
        if n == 0:
            raise InputError(Code.EMPTY_BATCH, name, "empty batch")
        f = vocab.lookup(name)
        if f is not None and f.column:
            columns.append(name)
        elif f is not None:
            if f.layout in size and size[f.layout] != n:
                raise InputError(Code.LENGTH_MISMATCH, name,
                                 "has %d elements but %s has %d" % (n, first[f.layout], size[f.layout]))
            size[f.layout], first[f.layout] = n, name
        if f is not None and f.kind == vocab.TOKEN_FLOAT:
            if f.lengths not in names:
                raise InputError(Code.MISSING_INPUT, f.lengths,
                                 "the objective reads %s and must read its lengths too" % name)
        elif a.dtype == np.float64:
            i = _first_non_finite(a)
            if i >= 0:
                raise InputError(Code.NON_FINITE, name, "not finite", index=i, value=float(a[i]))
        elif a.dtype == np.int64:
            bad = np.flatnonzero(a < 0)
            if bad.size:
                i = int(bad[0])
                raise InputError(Code.OUT_OF_RANGE, name, "negative token count", index=i, value=float(a[i]))
    # Per-token shapes, once the lengths are known to be valid.
    for name in names:
        f = vocab.lookup(name)
        if f is None or f.kind != vocab.TOKEN_FLOAT:
            continue
        rows, lengths = batch[name], batch[f.lengths]
        have = rows.lengths
        bad = np.flatnonzero(have != lengths)
        t_bad = _first_non_finite(rows.values)
        i_nf = int(np.searchsorted(rows.offsets, t_bad, side="right") - 1) if t_bad >= 0 else len(rows)
        if bad.size and bad[0] <= i_nf:
            i = int(bad[0])
            raise InputError(Code.LENGTH_MISMATCH, name, "has %d tokens but %s[%d] is %d"
                             % (have[i], f.lengths, i, lengths[i]), index=i)
        if t_bad >= 0:
            t = t_bad - int(rows.offsets[i_nf])
            raise InputError(Code.NON_FINITE, name, "token %d not finite" % t, index=i_nf,
                             value=float(rows.values[t_bad]))
    if columns:
        layout = next((l for l in (vocab.PAIRED, vocab.UNPAIRED) if l in size), None)
        for name in columns:
            if layout is not None and len(batch[name]) != size[layout]:
                raise InputError(Code.LENGTH_MISMATCH, name, "has %d elements but %s has %d"
                                 % (len(batch[name]), first[layout], size[layout]))


def require_positive(batch, name):
    """Raises InputError if any count of input name is zero, as Go's
    Batch.RequirePositive: objectives that average over tokens call it for
    the lengths they divide by."""
    a = batch[name]
    bad = np.flatnonzero(a <= 0)
    if bad.size:
        i = int(bad[0])
        raise InputError(Code.OUT_OF_RANGE, name, "must be > 0: the objective averages over these tokens",
                         index=i, value=float(a[i]))


def _clip(s, n):
    b = s.encode()
    if len(b) <= n:
        return s
    return b[:n].decode(errors="ignore") + "…"


def check_result(batch, names, loss, losses, grads, metrics):
    """Validates a result against the batch and the inputs read, as
    core.CheckResult does: grads maps each per-example policy input to a
    float64 array and each per-token one to a Ragged. Raises ReplyError."""
    if not math.isfinite(loss):
        raise ReplyError("not finite (got %s)" % go_float(loss), field="loss")
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
        if vocab.is_tokens(name):
            _check_token_grad(name, batch[name], g if isinstance(g, Ragged) else None)
            continue
        field = "grads." + name
        if g is None or isinstance(g, Ragged):
            raise ReplyError("missing gradient for a policy input", field=field)
        if len(g) != len(batch[name]):
            raise ReplyError("has %d values for %d inputs" % (len(g), len(batch[name])), field=field)
        i = _first_non_finite(g)
        if i >= 0:
            raise ReplyError("not finite", field=field, index=i, value=float(g[i]))
    for name in sorted(k for k, g in grads.items() if not isinstance(g, Ragged)):
        if name not in policy or vocab.is_tokens(name):
            raise ReplyError("gradient for an input that is not a per-example policy input the objective read",
                             field="grads." + name)
    for name in sorted(k for k, g in grads.items() if isinstance(g, Ragged)):
        if name not in policy or not vocab.is_tokens(name):
            raise ReplyError("gradient for an input that is not a per-token policy input the objective read",
                             field="token_grads." + name)
    if len(metrics) > MAX_METRICS:
        raise ReplyError("has %d metrics, more than the %d allowed" % (len(metrics), MAX_METRICS), field="metrics")
    for name in sorted(metrics):
        if not name or len(name.encode()) > MAX_METRIC_NAME_BYTES:
            raise ReplyError("name must be 1 to %d bytes, got %d" % (MAX_METRIC_NAME_BYTES, len(name.encode())),
                             field="metrics." + _clip(name, 32))
        if not math.isfinite(metrics[name]):
            raise ReplyError("not finite (got %s)" % go_float(metrics[name]), field="metrics." + name)


def _check_token_grad(name, rows, g):
    field = "token_grads." + name
    if g is None:
        raise ReplyError("missing gradient for a policy input", field=field)
    if len(g) != len(rows):
        raise ReplyError("has %d arrays for %d examples" % (len(g), len(rows)), field=field)
    bad = np.flatnonzero(g.lengths != rows.lengths)
    t_bad = _first_non_finite(g.values)
    i_nf = int(np.searchsorted(g.offsets, t_bad, side="right") - 1) if t_bad >= 0 else len(g)
    if bad.size and bad[0] <= i_nf:
        i = int(bad[0])
        raise ReplyError("has %d values for %d tokens" % (g.lengths[i], rows.lengths[i]), field=field, index=i,
                         value=float(g.lengths[i]))
    if t_bad >= 0:
        raise ReplyError("token %d not finite" % (t_bad - int(g.offsets[i_nf])), field=field, index=i_nf,
                         value=float(g.values[t_bad]))
