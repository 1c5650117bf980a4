"""Typed exceptions and the protocol's diagnostic codes.

Problems the user must fix travel between host and plugin as diagnostics
(code, field, index, value, message). These classes are their Python form:
a plugin author raises them, a host receives them.
"""

import enum
import math


class Code(enum.IntEnum):
    """Diagnostic codes; the values are the protocol's Code enum."""

    UNSPECIFIED = 0
    INVALID_PARAM = 1  # a parameter is unknown, of the wrong type or out of bounds
    MISSING_INPUT = 2  # the batch lacks an input the objective reads
    LENGTH_MISMATCH = 3  # inputs of one layout differ in length
    NON_FINITE = 4  # a NaN or ±Inf where a finite number is required
    OUT_OF_RANGE = 5  # a finite value outside the objective's domain
    EMPTY_BATCH = 6  # no examples
    UNKNOWN_INPUT = 7  # an input name the receiver does not know
    NOT_CONFIGURED = 8  # Compute before a successful Configure
    INTERNAL = 9  # the objective failed (a bug)
    BAD_REPLY = 10  # a result violates the contract


class PrefoptError(Exception):
    """Base of every prefopt exception.

    ``code``, ``field``, ``index`` (-1 when not about one element) and
    ``value`` mirror a protocol diagnostic. ``errors`` lists every problem
    when several were reported together (self first).
    """

    code = Code.UNSPECIFIED

    def __init__(self, msg, *, field="", index=-1, value=0.0):
        super().__init__(msg)
        self.msg = msg
        self.field = field
        self.index = index
        self.value = value
        self.errors = [self]

    def __str__(self):
        return self.msg


class ParamError(PrefoptError):
    """A parameter the user must fix; ``field`` names it."""

    code = Code.INVALID_PARAM

    def __init__(self, param, msg):
        super().__init__(msg, field=param)
        self.param = param

    def __str__(self):
        return 'parameter "%s": %s' % (self.param, self.msg)


class InputError(PrefoptError):
    """A problem with input ``field``, or with its element ``index`` ≥ 0."""

    def __init__(self, code, field, msg, *, index=-1, value=0.0):
        super().__init__(msg, field=field, index=index, value=value)
        self.code = Code(code)

    def __str__(self):
        s = self.field
        if self.index >= 0:
            s += "[%d]" % self.index
        s += ": " + self.msg
        if self.index >= 0 and self.code in (Code.NON_FINITE, Code.OUT_OF_RANGE):
            s += " (got %s)" % go_float(self.value)
        return s


class ReplyError(PrefoptError):
    """A result that violates the contract (``field`` is "loss", "losses",
    "grads.<input>" or "metrics.<name>")."""

    code = Code.BAD_REPLY

    def __str__(self):
        if self.index >= 0:
            return "reply %s[%d]: %s (got %s)" % (self.field, self.index, self.msg, go_float(self.value))
        return "reply %s: %s" % (self.field, self.msg)


class InternalError(PrefoptError):
    """A failure inside an objective that is not the caller's fault."""

    code = Code.INTERNAL

    def __str__(self):
        return "objective internal error: " + self.msg


class NotConfiguredError(PrefoptError):
    """Compute was called before a successful Configure."""

    code = Code.NOT_CONFIGURED


class PluginError(PrefoptError):
    """The plugin process or the transport failed: it did not start, crashed,
    timed out or broke the handshake. Restarting may help; fixing inputs
    will not."""


def from_diagnostic(code, msg, field="", index=-1, value=0.0):
    """Returns the exception for one diagnostic."""
    code = Code(code) if code in Code._value2member_map_ else Code.INTERNAL
    if code == Code.INVALID_PARAM:
        return ParamError(field, msg)
    if code == Code.NOT_CONFIGURED:
        return NotConfiguredError("objective not configured: " + msg, field=field)
    if code in (Code.INTERNAL, Code.UNSPECIFIED):
        return InternalError(msg)
    if code == Code.BAD_REPLY:
        return ReplyError(msg, field=field, index=index, value=value)
    return InputError(code, field, msg, index=index, value=value)


def join(errs):
    """Returns the first of errs carrying all of them in ``errors``, or None."""
    if not errs:
        return None
    first = errs[0]
    first.errors = list(errs)
    if len(errs) > 1:
        first.args = ("\n".join(str(e) for e in errs),)
    return first


def go_float(v):
    """Formats v as Go's %v does, so messages match the Go SDK's."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    sign = "-" if v < 0 else ""
    r = repr(abs(v))
    mant, _, exp = r.partition("e")
    exp = int(exp) if exp else 0
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    # decimal point position: value = 0.<digits> × 10^dp
    lead_zeros = len(whole + frac) - len((whole + frac).lstrip("0"))
    dp = len(whole) - lead_zeros + exp
    digits = digits.rstrip("0") or "0"
    return sign + _go_g(digits, dp)


def _go_g(digits, dp):
    # strconv's 'g' with shortest digits, as fmt's %v uses it: exponent form
    # when the decimal exponent is < -4 or ≥ 6, with at least two digits.
    x = dp - 1
    if x < -4 or x >= 6:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return "%se%s%02d" % (m, "-" if x < 0 else "+", abs(x))
    if dp <= 0:
        return "0." + "0" * (-dp) + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]
