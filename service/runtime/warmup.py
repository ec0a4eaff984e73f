"""Warm-up: one call per padded batch shape before a version takes traffic.

The first call at each shape pays for kernel selection and memory planning; doing
it here keeps that cost out of the first requests after a (re)load.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.runtime.tensors import PredictFn, TensorInfo


def warmup_inputs(inputs: Mapping[str, TensorInfo], rows: int) -> dict[str, NDArray[Any]]:
    """Zeros of the right shape and dtype: valid for every model family (label 0 exists)."""
    return {
        name: np.zeros((rows, *(dim or 1 for dim in info.shape[1:])), dtype=info.dtype)
        for name, info in inputs.items()
    }


def warm_up(
    predict: PredictFn,
    inputs: Mapping[str, TensorInfo],
    outputs: Mapping[str, TensorInfo],
    sizes: tuple[int, ...],
) -> None:
    """Run every size once and check each output comes back with one row per input row."""
    for rows in sizes:
        result = predict(warmup_inputs(inputs, rows))
        for name in outputs:
            if name not in result:
                raise ValueError(f"output {name!r} missing from the model's answer")
            got = result[name].shape[:1]
            if got != (rows,):
                raise ValueError(f"output {name!r} has {got} rows for a batch of {rows}")
