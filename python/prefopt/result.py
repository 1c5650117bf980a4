"""The result of one objective call, shared by both directions."""

import dataclasses
from typing import Any, Dict, Sequence


@dataclasses.dataclass
class Result:
    """What an objective returns for one batch. ``loss`` is the reduced loss
    (a value to minimise); ``losses`` has one entry per example; ``grads``
    maps every policy input read to d loss / d input (same length; for a
    per-token input a :class:`prefopt.ragged.Ragged` with the input's row
    lengths — Go's Result.TokenGrads); ``metrics`` are finite scalars."""

    loss: float
    losses: Sequence[float]
    grads: Dict[str, Any]
    metrics: Dict[str, float] = dataclasses.field(default_factory=dict)
