"""The input vocabulary of the prefopt contract (core.Fields in Go).

Inputs travel as a dict of one-dimensional arrays keyed by these names. The
SDK needs a name's kind and layout only to check a batch; a name not listed
here (from a newer contract) is passed through with the element type its
array carries and no length check.
"""

import collections

Field = collections.namedtuple("Field", "name kind layout policy reference")

FLOAT, COUNT, BOOL = "float", "count", "bool"
PAIRED, UNPAIRED = "paired", "unpaired"

POLICY_CHOSEN_LOGPS = "policy_chosen_logps"
POLICY_REJECTED_LOGPS = "policy_rejected_logps"
REFERENCE_CHOSEN_LOGPS = "reference_chosen_logps"
REFERENCE_REJECTED_LOGPS = "reference_rejected_logps"
CHOSEN_LENGTHS = "chosen_lengths"
REJECTED_LENGTHS = "rejected_lengths"
POLICY_CHOSEN_PROMPT_LOGPS = "policy_chosen_prompt_logps"
CHOSEN_PROMPT_LENGTHS = "chosen_prompt_lengths"
POLICY_LOGPS = "policy_logps"
REFERENCE_LOGPS = "reference_logps"
LENGTHS = "lengths"
LABELS = "labels"
POLICY_KL_LOGPS = "policy_kl_logps"
REFERENCE_KL_LOGPS = "reference_kl_logps"

FIELDS = (
    Field(POLICY_CHOSEN_LOGPS, FLOAT, PAIRED, True, False),
    Field(POLICY_REJECTED_LOGPS, FLOAT, PAIRED, True, False),
    Field(REFERENCE_CHOSEN_LOGPS, FLOAT, PAIRED, False, True),
    Field(REFERENCE_REJECTED_LOGPS, FLOAT, PAIRED, False, True),
    Field(CHOSEN_LENGTHS, COUNT, PAIRED, False, False),
    Field(REJECTED_LENGTHS, COUNT, PAIRED, False, False),
    Field(POLICY_CHOSEN_PROMPT_LOGPS, FLOAT, PAIRED, True, False),
    Field(CHOSEN_PROMPT_LENGTHS, COUNT, PAIRED, False, False),
    Field(POLICY_LOGPS, FLOAT, UNPAIRED, True, False),
    Field(REFERENCE_LOGPS, FLOAT, UNPAIRED, False, True),
    Field(LENGTHS, COUNT, UNPAIRED, False, False),
    Field(LABELS, BOOL, UNPAIRED, False, False),
    Field(POLICY_KL_LOGPS, FLOAT, UNPAIRED, True, False),
    Field(REFERENCE_KL_LOGPS, FLOAT, UNPAIRED, False, True),
)

_BY_NAME = {f.name: f for f in FIELDS}


def lookup(name):
    """Returns the Field of a known input name, or None."""
    return _BY_NAME.get(name)


def is_policy(name):
    """Reports whether name is a policy input (one that gets a gradient).
    Unknown names follow the contract's naming rule: a "policy_" prefix."""
    f = _BY_NAME.get(name)
    return f.policy if f else name.startswith("policy_")
