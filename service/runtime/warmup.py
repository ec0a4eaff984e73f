"""Warm-up: one call per padded batch shape before a version takes traffic.

The first call at each shape pays for kernel selection and memory planning; doing
it here keeps that cost out of the first requests after a (re)load. The answers of
the largest batch are returned: they tell how the model's scores look. Timed calls
per shape (`time_batches`) then tell the batcher which batches are cheaper to run on
the event loop than to hand to a thread (`service.runtime.placement`).
"""

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.runtime.tensors import PredictFn, TensorInfo

Outputs = dict[str, NDArray[Any]]


def warmup_inputs(
    inputs: Mapping[str, TensorInfo],
    rows: int,
    fixed: Mapping[str, tuple[int, ...]] | None = None,
) -> Outputs:
    """Zeros of the right dtype; open dimensions are 1 unless ``fixed`` gives the shape."""
    fixed = fixed or {}
    return {
        name: np.zeros(
            (rows, *fixed.get(name, tuple(dim or 1 for dim in info.shape[1:]))), dtype=info.dtype
        )
        for name, info in inputs.items()
    }


def warm_up(
    predict: PredictFn,
    inputs: Mapping[str, TensorInfo],
    outputs: Mapping[str, TensorInfo],
    sizes: tuple[int, ...],
    fixed: Mapping[str, tuple[int, ...]] | None = None,
) -> Outputs:
    """Run every size once and check each output comes back with one row per input row."""
    result: Outputs = {}
    for rows in sizes:
        result = predict(warmup_inputs(inputs, rows, fixed))
        for name in outputs:
            if name not in result:
                raise ValueError(f"output {name!r} missing from the model's answer")
            got = result[name].shape[:1]
            if got != (rows,):
                raise ValueError(f"output {name!r} has {got} rows for a batch of {rows}")
    return result


def time_batches(
    predict: PredictFn,
    inputs: Mapping[str, TensorInfo],
    sizes: tuple[int, ...],
    fixed: Mapping[str, tuple[int, ...]] | None = None,
    up_to_s: float = 0.002,
    tries: int = 3,
) -> dict[int, float]:
    """The model's own seconds per batch size (the fastest of ``tries`` warm calls),
    smallest first; sizes past the first one slower than ``up_to_s`` are left out: no
    rule runs them on the loop, and timing them would lengthen a big model's load."""
    seconds: dict[int, float] = {}
    for rows in sorted(sizes):
        batch = warmup_inputs(inputs, rows, fixed)
        times = []
        for _ in range(tries):
            started = time.perf_counter()
            predict(batch)
            times.append(time.perf_counter() - started)
        seconds[rows] = min(times)
        if seconds[rows] > up_to_s:
            break
    return seconds
