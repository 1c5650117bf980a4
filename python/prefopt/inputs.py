"""The input vocabulary of the prefopt contract (core.Fields in Go).

Inputs travel as a dict keyed by these names. A per-example input is a
one-dimensional array with one entry per example; a per-token input (kind
TOKEN_FLOAT) holds one array of per-token values per example, as a
:class:`prefopt.ragged.Ragged`, whose row lengths equal the entries of its
``lengths`` count input. A data-column input ``column.<key>`` carries the
numeric key of every example of the data file: float, one value per example
in the layout of the objective's other inputs, never a gradient.

The SDK needs a name's kind and layout only to check a batch; a name not
listed here (from a newer contract) is passed through with the element type
its array carries and no length check.
"""

import collections
import re

Field = collections.namedtuple("Field", "name kind layout policy reference lengths column")
Field.__doc__ = """One named input. ``layout`` is None for a data column (the
objective's other inputs decide); ``lengths`` names the count input holding
each example's token count for a per-token input, "" otherwise."""

FLOAT, COUNT, BOOL, TOKEN_FLOAT = "float", "count", "bool", "token float"
PAIRED, UNPAIRED = "paired", "unpaired"

POLICY_CHOSEN_LOGPS = "policy_chosen_logps"
POLICY_REJECTED_LOGPS = "policy_rejected_logps"
REFERENCE_CHOSEN_LOGPS = "reference_chosen_logps"
REFERENCE_REJECTED_LOGPS = "reference_rejected_logps"
CHOSEN_LENGTHS = "chosen_lengths"
REJECTED_LENGTHS = "rejected_lengths"
POLICY_CHOSEN_PROMPT_LOGPS = "policy_chosen_prompt_logps"
CHOSEN_PROMPT_LENGTHS = "chosen_prompt_lengths"
POLICY_CHOSEN_TOKEN_LOGPS = "policy_chosen_token_logps"
POLICY_REJECTED_TOKEN_LOGPS = "policy_rejected_token_logps"
REFERENCE_CHOSEN_TOKEN_LOGPS = "reference_chosen_token_logps"
REFERENCE_REJECTED_TOKEN_LOGPS = "reference_rejected_token_logps"
POLICY_CHOSEN_WPO_LOGPS = "policy_chosen_wpo_logps"
POLICY_REJECTED_WPO_LOGPS = "policy_rejected_wpo_logps"
POLICY_LOGPS = "policy_logps"
REFERENCE_LOGPS = "reference_logps"
LENGTHS = "lengths"
LABELS = "labels"
POLICY_KL_LOGPS = "policy_kl_logps"
REFERENCE_KL_LOGPS = "reference_kl_logps"
POLICY_TOKEN_LOGPS = "policy_token_logps"
REFERENCE_TOKEN_LOGPS = "reference_token_logps"

COLUMN_PREFIX = "column."

FIELDS = (
    Field(POLICY_CHOSEN_LOGPS, FLOAT, PAIRED, True, False, "", False),
    Field(POLICY_REJECTED_LOGPS, FLOAT, PAIRED, True, False, "", False),
    Field(REFERENCE_CHOSEN_LOGPS, FLOAT, PAIRED, False, True, "", False),
    Field(REFERENCE_REJECTED_LOGPS, FLOAT, PAIRED, False, True, "", False),
    Field(CHOSEN_LENGTHS, COUNT, PAIRED, False, False, "", False),
    Field(REJECTED_LENGTHS, COUNT, PAIRED, False, False, "", False),
    Field(POLICY_CHOSEN_PROMPT_LOGPS, FLOAT, PAIRED, True, False, "", False),
    Field(CHOSEN_PROMPT_LENGTHS, COUNT, PAIRED, False, False, "", False),
    Field(POLICY_CHOSEN_TOKEN_LOGPS, TOKEN_FLOAT, PAIRED, True, False, CHOSEN_LENGTHS, False),
    Field(POLICY_REJECTED_TOKEN_LOGPS, TOKEN_FLOAT, PAIRED, True, False, REJECTED_LENGTHS, False),
    Field(REFERENCE_CHOSEN_TOKEN_LOGPS, TOKEN_FLOAT, PAIRED, False, True, CHOSEN_LENGTHS, False),
    Field(REFERENCE_REJECTED_TOKEN_LOGPS, TOKEN_FLOAT, PAIRED, False, True, REJECTED_LENGTHS, False),
    Field(POLICY_CHOSEN_WPO_LOGPS, FLOAT, PAIRED, False, False, "", False),
    Field(POLICY_REJECTED_WPO_LOGPS, FLOAT, PAIRED, False, False, "", False),
    Field(POLICY_LOGPS, FLOAT, UNPAIRED, True, False, "", False),
    Field(REFERENCE_LOGPS, FLOAT, UNPAIRED, False, True, "", False),
    Field(LENGTHS, COUNT, UNPAIRED, False, False, "", False),
    Field(LABELS, BOOL, UNPAIRED, False, False, "", False),
    Field(POLICY_KL_LOGPS, FLOAT, UNPAIRED, True, False, "", False),
    Field(REFERENCE_KL_LOGPS, FLOAT, UNPAIRED, False, True, "", False),
    Field(POLICY_TOKEN_LOGPS, TOKEN_FLOAT, UNPAIRED, True, False, LENGTHS, False),
    Field(REFERENCE_TOKEN_LOGPS, TOKEN_FLOAT, UNPAIRED, False, True, LENGTHS, False),
)

_BY_NAME = {f.name: f for f in FIELDS}
_RANK = {f.name: i for i, f in enumerate(FIELDS)}
_COLUMN_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def column(key):
    """Returns the input name of the data column key: "column.<key>"."""
    return COLUMN_PREFIX + key


def column_of(name):
    """Returns the data column an input name refers to, or None when name is
    not a well-formed data-column input (the prefix, then one or more ASCII
    letters, digits, '_' or '-')."""
    if name.startswith(COLUMN_PREFIX) and _COLUMN_KEY.match(name, len(COLUMN_PREFIX)):
        return name[len(COLUMN_PREFIX):]
    return None


def lookup(name):
    """Returns the Field of a known input name or data column, or None."""
    f = _BY_NAME.get(name)
    if f is None and column_of(name) is not None:
        f = Field(name, FLOAT, None, False, False, "", True)
    return f


def is_policy(name):
    """Reports whether name is a policy input (one that gets a gradient).
    Unknown names follow the contract's naming rule: a "policy_" prefix."""
    f = lookup(name)
    return f.policy if f else name.startswith("policy_")


def is_tokens(name):
    """Reports whether name is a per-token input."""
    f = _BY_NAME.get(name)
    return f is not None and f.kind == TOKEN_FLOAT


def sort_key(name):
    """Orders input names canonically, as core.InputLess: FIELDS in their
    order, then data columns by name, then unknown names by name."""
    if name in _RANK:
        return (_RANK[name], "")
    return (len(FIELDS) + (0 if column_of(name) is not None else 1), name)
