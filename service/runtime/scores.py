"""Turning a classifier's output rows into class probabilities.

Some models end in a softmax, some return logits, some end in one sigmoid unit.
Which one is decided once per version (the card's `output`, else the warm-up batch)
and applied per request here, in numpy, after the batch comes back.
"""

from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.card import OutputKind

SUM_TOLERANCE = 1e-3


def detect_scores(rows: NDArray[Any]) -> OutputKind:
    """`probabilities` for rows in [0, 1] summing to 1; one column in [0, 1] is `sigmoid`."""
    values = np.asarray(rows, dtype=np.float64)
    in_range = bool(np.all((values >= 0.0) & (values <= 1.0)))
    if values.shape[1] == 1:
        return "sigmoid" if in_range else "logits"
    sums_to_one = bool(np.all(np.abs(values.sum(axis=1) - 1.0) <= SUM_TOLERANCE))
    return "probabilities" if in_range and sums_to_one else "logits"


def to_probabilities(rows: NDArray[Any], kind: OutputKind) -> NDArray[np.float32]:
    """[N, C] class probabilities; one column p becomes the two classes [1 - p, p]."""
    values = np.asarray(rows, dtype=np.float32)
    if values.shape[1] == 1:
        positive = values[:, 0] if kind != "logits" else _sigmoid(values[:, 0])
        return np.stack([1.0 - positive, positive], axis=1)
    if kind == "logits":
        shifted = values - values.max(axis=1, keepdims=True)
        exponentials = np.exp(shifted)
        return exponentials / exponentials.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]
    return values


def _sigmoid(values: NDArray[np.float32]) -> NDArray[np.float32]:
    return (1.0 / (1.0 + np.exp(-values))).astype(np.float32)
