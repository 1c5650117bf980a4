"""The result of one objective call, shared by both directions."""

import dataclasses
from typing import Dict, Sequence


@dataclasses.dataclass
class Result:
    """What an objective returns for one batch. ``loss`` is the reduced loss
    (a value to minimise); ``losses`` has one entry per example; ``grads``
    maps every policy input read to d loss / d input (same length);
    ``metrics`` are finite scalars."""

    loss: float
    losses: Sequence[float]
    grads: Dict[str, Sequence[float]]
    metrics: Dict[str, float] = dataclasses.field(default_factory=dict)
