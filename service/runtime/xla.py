"""XLA: the signature compiled as one program, chosen by the card (`"runtime": "xla"`).

TensorFlow's executor dispatches every op of a graph on its own, and a recurrent model
runs its step's ops once per time step: `co2_lstm/2` forecasts through a 240-step
recursion, 46 ms a call. XLA compiles the whole signature, loop included, into one
program: 3.6 ms for one row. It does not win everywhere (the same model at 64 rows:
133 ms against TensorFlow's 90), so each warmed-up batch size is timed both ways at
load and XLA runs only the sizes where it was faster by `MIN_GAIN`. Like LiteRT, it
is used only after answering like the SavedModel (`check_same_answers`); otherwise,
or when it wins at no size, the version is served by TensorFlow and the status says why.
Each batch size is compiled once (about 2 s for that model), at load.
"""

import time
from collections.abc import Mapping
from typing import Any

import tensorflow as tf
from numpy.typing import NDArray

from service.runtime.agreement import (
    PROBE_ROWS,
    RuntimeMismatchError,
    check_same_answers,
    probe_inputs,
)
from service.runtime.tensors import PredictFn, TensorInfo
from service.runtime.warmup import warmup_inputs

MIN_GAIN = 1.1  # XLA takes a batch size only when this many times faster there
TIMED_CALLS = 3


def compiled(function: Any) -> Any:
    """``function`` (a concrete signature) wrapped to be compiled by XLA on first call."""

    def call(**inputs: tf.Tensor) -> Any:
        return function(**inputs)

    return tf.function(call, jit_compile=True, autograph=False)


class RowsDispatch:
    """The XLA runner for the row counts it won at load, TensorFlow's for the others."""

    def __init__(self, xla: PredictFn, plain: PredictFn, xla_rows: frozenset[int]) -> None:
        self._xla = xla
        self._plain = plain
        self.xla_rows = xla_rows

    def __call__(self, inputs: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        rows = next(iter(inputs.values())).shape[0]
        return (self._xla if rows in self.xla_rows else self._plain)(inputs)


def xla_dispatch(
    xla: PredictFn,
    plain: PredictFn,
    inputs: Mapping[str, TensorInfo],
    fixed: Mapping[str, tuple[int, ...]],
    sizes: tuple[int, ...],
    top1_output: str | None,
) -> RowsDispatch:
    """A checked dispatch over ``sizes``, or ``RuntimeMismatchError`` saying why not."""
    for rows in (1, PROBE_ROWS):
        probe = probe_inputs(inputs, rows, fixed)
        try:
            got = xla(probe)
        except Exception as exc:
            raise RuntimeMismatchError(f"XLA compilation or call failed: {exc!r}"[:300]) from exc
        check_same_answers(plain(probe), got, top1_output)
    faster = frozenset(
        rows for rows in sizes if _gain(xla, plain, warmup_inputs(inputs, rows, fixed)) >= MIN_GAIN
    )
    if not faster:
        raise RuntimeMismatchError(f"XLA was not {MIN_GAIN}x faster at any batch size")
    return RowsDispatch(xla, plain, faster)


def _gain(xla: PredictFn, plain: PredictFn, batch: Mapping[str, NDArray[Any]]) -> float:
    """TensorFlow's best time over XLA's, calls interleaved so drift hits both alike."""
    xla(batch)  # compiles this shape
    best = {"xla": float("inf"), "plain": float("inf")}
    for _ in range(TIMED_CALLS):
        for name, runner in (("xla", xla), ("plain", plain)):
            started = time.perf_counter()
            runner(batch)
            best[name] = min(best[name], time.perf_counter() - started)
    return best["plain"] / best["xla"]


def describe(dispatch: RowsDispatch, sizes: tuple[int, ...]) -> str:
    """The status note: which batch sizes run compiled."""
    chosen = sorted(dispatch.xla_rows)
    others = [rows for rows in sizes if rows not in dispatch.xla_rows]
    note = f"xla at batches of {', '.join(map(str, chosen))} rows"
    if others:
        note += f"; tensorflow at {', '.join(map(str, others))} (timed at load)"
    return note
