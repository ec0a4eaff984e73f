"""Triton's classification extension for KServe V2 outputs: top-k `"score:index:label"`.

A requested output with `"parameters": {"classification": k}` comes back as BYTES
[N, k] strings instead of its raw values.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidRequestError


def class_count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequestError(f"classification must be a positive integer, not {value!r}")
    return value


def classification(
    name: str, scores: NDArray[Any], count: int, labels: Sequence[str]
) -> NDArray[np.object_]:
    """Triton's classification extension: [N, min(count, C)] `"score:index:label"` strings.

    The top entries of each row by raw value (ties: lower index first). The score is
    the raw output value as Triton prints it (C++ `std::to_string`: six decimals for
    floats); the label is the model's when the output has one column per label, and is
    left out otherwise (as Triton does without a label file).
    """
    if scores.ndim != 2 or scores.dtype.kind not in "biuf":
        raise InvalidRequestError(
            f"classification needs a numeric [batch, classes] output; {name!r} is "
            f"{scores.dtype.name} {list(scores.shape)}"
        )
    named = len(labels) == scores.shape[1]
    order = np.argsort(-scores.astype(np.float64), axis=1, kind="stable")[:, :count]
    floating = scores.dtype.kind == "f"
    strings = [
        f"{_score_text(row[index], floating)}:{index}" + (f":{labels[index]}" if named else "")
        for row, indices in zip(scores, order, strict=True)
        for index in indices.tolist()
    ]
    return np.array(strings, dtype=object).reshape(order.shape)


def _score_text(value: Any, floating: bool) -> str:
    """C++ `std::to_string`: `%f` for floating point, plain digits for integers."""
    return f"{float(value):f}" if floating else str(int(value))
