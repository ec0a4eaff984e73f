"""The rows of one batch: queued requests, collated and padded, answered in order.

The data half of dynamic batching (`service.runtime.batcher` decides when a batch
runs): what a queued request holds, how requests become one padded batch, and how
the batch's outputs go back to each caller.
"""

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.runtime.errors import InferenceError
from service.runtime.tensors import PredictFn

Arrays = Mapping[str, NDArray[Any]]
Outputs = dict[str, NDArray[Any]]


class QueuedRequest:
    """One caller's rows waiting in the queue, with its future and deadline."""

    __slots__ = ("deadline", "dropped", "enqueued", "future", "inputs", "off_loop", "rows")

    def __init__(
        self,
        inputs: Arrays,
        rows: int,
        future: "asyncio.Future[Outputs]",
        enqueued: float,
        deadline: float,
        off_loop: bool = False,
    ) -> None:
        self.inputs = inputs
        self.rows = rows
        self.future = future
        self.enqueued = enqueued
        self.deadline = deadline
        self.off_loop = off_loop  # never run on the event loop, however fast the model
        self.dropped = False  # expired while queued; already taken off the counters


def collate(inputs: Sequence[Arrays], rows: int, padded: int) -> dict[str, NDArray[Any]]:
    """Concatenate requests into one batch of ``padded`` rows, repeating the last row.

    One request that needs no padding is passed through without a copy.
    """
    if len(inputs) == 1 and rows == padded:
        return dict(inputs[0])
    batch = {}
    for name, first in inputs[0].items():
        out = np.empty((padded, *first.shape[1:]), dtype=first.dtype)
        np.concatenate([request[name] for request in inputs], axis=0, out=out[:rows])
        out[rows:] = out[rows - 1]
        batch[name] = out
    return batch


def run_padded(
    predict: PredictFn, inputs: Sequence[Arrays], rows: int, padded: int
) -> tuple[Outputs, float]:
    """Collate, pad, predict and check the row counts, where the batch runs (the loop or
    an inference thread); also the seconds the model took.

    The seconds are the call's own, timed where it runs: a hop to the thread and back
    must not count, or one slow hop would make a fast model look too slow to run on the
    loop (`service.runtime.placement`).
    """
    started = time.perf_counter()
    outputs = predict(collate(inputs, rows, padded))
    seconds = time.perf_counter() - started
    for name, array in outputs.items():
        if array.shape[:1] != (padded,):
            raise InferenceError(
                f"model output {name!r} has shape {list(array.shape)} for a batch of {padded} rows"
            )
    return outputs, seconds


def distribute(batch: list[QueuedRequest], outputs: Outputs) -> None:
    """Each caller its own rows of the batch's outputs (views, not copies)."""
    start = 0
    for request in batch:
        end = start + request.rows
        if not request.future.done():
            request.future.set_result({name: array[start:end] for name, array in outputs.items()})
        start = end


def fail_all(batch: list[QueuedRequest], error: BaseException) -> None:
    for request in batch:
        if not request.future.done():
            request.future.set_exception(error)
