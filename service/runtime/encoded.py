"""Rows a batch prepares where it runs: a request's encoded items and how they become rows.

A small request of encoded images used to be prepared on the event loop before it
queued, one request at a time. Queued as `Encoded`, the images of a whole batch are
prepared together where the batch runs: on an inference thread for all but the smallest
batches, so the loop is free to take the next calls, and with one set of array
operations for the batch where the preparation allows it (`preprocessing.batch`). Each
row is exactly what the request alone would have been given.

A request whose items cannot be prepared fails alone: the batch's items are then
prepared again request by request, and a failed request's rows in the batch are
stand-ins (zeros) whose outputs no caller sees.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Rows = Callable[[Sequence[bytes]], NDArray[Any]]


class Encoded:
    """A request's encoded items for one input, prepared as rows by ``prepare``.

    Requests whose ``prepare`` compare equal are prepared in one call: make it a value
    that says what it does (`service.tasks.classify.ImageRows`), not a fresh closure.
    """

    __slots__ = ("items", "prepare")

    def __init__(self, items: Sequence[bytes], prepare: Rows) -> None:
        self.items = items
        self.prepare = prepare

    def __len__(self) -> int:
        return len(self.items)

    def rows(self) -> NDArray[Any]:
        """This request's items prepared on their own."""
        return self.prepare(self.items)


Inputs = Mapping[str, "NDArray[Any] | Encoded"]
Arrays = Mapping[str, NDArray[Any]]


def materialized(inputs: Inputs) -> dict[str, NDArray[Any]]:
    """``inputs`` with every `Encoded` value prepared now, for callers that need arrays."""
    return {
        name: value.rows() if isinstance(value, Encoded) else value
        for name, value in inputs.items()
    }


def prepared(inputs: Sequence[Inputs]) -> tuple[list[Arrays], dict[int, BaseException]]:
    """Every request's inputs as arrays, and the requests (by index) that failed with
    what they raised; their arrays are stand-ins of the right shape."""
    if not any(isinstance(value, Encoded) for request in inputs for value in request.values()):
        return list(inputs), {}  # type: ignore[arg-type]  # no Encoded: arrays only
    arrays: list[dict[str, NDArray[Any]]] = [{} for _ in inputs]
    failed: dict[int, BaseException] = {}
    for name in inputs[0]:
        values = [request[name] for request in inputs]
        for index, rows in enumerate(_rows_of(values, failed)):
            arrays[index][name] = rows
    return list(arrays), failed


def _rows_of(
    values: list["NDArray[Any] | Encoded"], failed: dict[int, BaseException]
) -> list[NDArray[Any]]:
    """One input's rows for every request: the encoded ones prepared together."""
    rows = {i: value for i, value in enumerate(values) if not isinstance(value, Encoded)}
    encoded = {i: value for i, value in enumerate(values) if isinstance(value, Encoded)}
    if encoded:
        rows.update(_prepare_together(encoded, failed))
    return _with_stand_ins(rows, values)


def _prepare_together(
    encoded: dict[int, Encoded], failed: dict[int, BaseException]
) -> dict[int, NDArray[Any]]:
    first = next(iter(encoded.values()))
    if all(value.prepare == first.prepare for value in encoded.values()):
        try:
            stacked = first.prepare([item for value in encoded.values() for item in value.items])
        except Exception:
            pass  # a bad item somewhere: each request alone, below, to find whose
        else:
            rows, start = {}, 0
            for index, value in encoded.items():
                rows[index] = stacked[start : start + len(value)]
                start += len(value)
            return rows
    rows = {}
    for index, value in encoded.items():
        try:
            rows[index] = value.rows()
        except Exception as exc:
            failed[index] = exc
    return rows


def _with_stand_ins(
    rows: dict[int, NDArray[Any]], values: list["NDArray[Any] | Encoded"]
) -> list[NDArray[Any]]:
    """Zeros in place of the rows of requests that failed, shaped as the others'."""
    model = next(iter(rows.values()), None)
    if model is None:  # every request failed: nothing will run, any shape does
        return [np.zeros((len(value),), np.float32) for value in values]
    return [
        rows[i] if i in rows else np.zeros((len(value), *model.shape[1:]), model.dtype)
        for i, value in enumerate(values)
    ]
