"""The rows of one batch: queued requests, collated and padded, answered in order.

The data half of dynamic batching (`service.runtime.batcher` decides when a batch
runs): what a queued request holds, how requests become one padded batch, and how
the batch's outputs go back to each caller.
"""

import asyncio
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from service.runtime.encoded import Arrays, Inputs, prepared
from service.runtime.errors import InferenceError
from service.runtime.tensors import PredictFn

Outputs = dict[str, NDArray[Any]]


class Ran(NamedTuple):
    """What running one batch gave: the outputs (none when no request could be prepared),
    the model's own seconds, and the requests (by index) that failed alone."""

    outputs: Outputs
    seconds: float
    failed: dict[int, BaseException]


class QueuedRequest:
    """One caller's rows waiting in the queue, with its future and deadline."""

    __slots__ = ("deadline", "dropped", "enqueued", "future", "inputs", "off_loop", "rows")

    def __init__(
        self,
        inputs: Inputs,
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


def run_padded(predict: PredictFn, inputs: Sequence[Inputs], rows: int, padded: int) -> Ran:
    """Prepare encoded inputs (`service.runtime.encoded`), collate, pad, predict and check
    the row counts, where the batch runs (the loop or an inference thread).

    The seconds are the model call's own, timed where it runs: a hop to the thread and
    back must not count, nor the preparation, or a fast model would look too slow to
    run on the loop (`service.runtime.placement`).
    """
    arrays, failed = prepared(inputs)
    if len(failed) == len(arrays):
        return Ran({}, 0.0, failed)
    started = time.perf_counter()
    outputs = predict(collate(arrays, rows, padded))
    seconds = time.perf_counter() - started
    for name, array in outputs.items():
        if array.shape[:1] != (padded,):
            raise InferenceError(
                f"model output {name!r} has shape {list(array.shape)} for a batch of {padded} rows"
            )
    return Ran(outputs, seconds, failed)


def distribute(batch: list[QueuedRequest], ran: Ran) -> None:
    """Each caller its own rows of the batch's outputs (views, not copies), or the error
    its own inputs failed with."""
    start, outputs, failed = 0, ran.outputs, ran.failed
    for index, request in enumerate(batch):
        end = start + request.rows
        if not request.future.done():
            if failed and index in failed:
                request.future.set_exception(failed[index])
            else:
                request.future.set_result({name: rows[start:end] for name, rows in outputs.items()})
        start = end


def fail_all(batch: list[QueuedRequest], error: BaseException) -> None:
    for request in batch:
        if not request.future.done():
            request.future.set_exception(error)
