"""Shadow traffic: once the primary has answered, the same rows go to the shadow version.

The primary's answer is never delayed, changed or failed by it: a shadow call is a
task of its own, started after the primary's outputs are in hand, and everything it
raises ends there (outcome ``error``). At most ``limit`` shadow calls are queued or
running per process; one more is shed (counted), so at concurrency 1 nothing is.

Agreement is counted per row (per image of a 64-image request): a classifier's row
agrees when its top-1 class is the same; any other model's when every value is within
``tolerance`` of the primary's, relative to the primary's magnitude
(``|shadow - primary| <= tolerance * |primary| + 1e-6``). The latest disagreeing rows
are kept (an input digest and both answers) so people can see what disagreed.
"""

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.runtime.observer import RolloutObserver, ShadowOutcome

logger = logging.getLogger(__name__)

SAMPLES_KEPT = 20
VALUES_SHOWN = 10
ABSOLUTE_FLOOR = 1e-6

Arrays = Mapping[str, NDArray[Any]]


@dataclass
class ShadowRecord:
    """One model's shadow results since start: rows by outcome, sheds, latest disagreements."""

    counts: dict[tuple[int, int, ShadowOutcome], int] = field(default_factory=dict)
    shed: int = 0
    samples: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=SAMPLES_KEPT))

    def add(self, primary: int, shadow: int, outcome: ShadowOutcome, rows: int) -> None:
        key = (primary, shadow, outcome)
        self.counts[key] = self.counts.get(key, 0) + rows

    def agreement(self) -> float | None:
        """Agreeing rows over compared rows (errors left out), None before any."""
        agree = sum(n for (_, _, outcome), n in self.counts.items() if outcome == "agree")
        compared = agree + sum(n for (_, _, o), n in self.counts.items() if o == "disagree")
        return agree / compared if compared else None

    def report(self) -> dict[str, Any]:
        pairs: dict[tuple[int, int], dict[str, int]] = {}
        for (primary, shadow, outcome), rows in sorted(self.counts.items()):
            pairs.setdefault((primary, shadow), {"agree": 0, "disagree": 0, "error": 0})[
                outcome
            ] = rows
        return {
            "agreement": self.agreement(),
            "shed": self.shed,
            "rows": [{"primary": p, "shadow": s, **counts} for (p, s), counts in pairs.items()],
            "disagreements": list(reversed(self.samples)),
        }


@dataclass(frozen=True)
class ShadowJob:
    """One primary call to repeat on the shadow version and compare."""

    model: str
    primary: int
    shadow: int
    inputs: Arrays
    expected: Arrays
    run: Callable[[], Awaitable[Arrays]]
    top1_output: str | None  # a classifier's scores: compare top-1 classes only
    labels: Sequence[str]
    tolerance: float
    record: ShadowRecord


class ShadowMismatchError(Exception):
    """The shadow's outputs cannot be compared with the primary's (names or shapes)."""


def agreeing_rows(job: ShadowJob, got: Arrays) -> NDArray[np.bool_]:
    """Per row of the primary's answer, whether the shadow's answer agrees."""
    names = [job.top1_output] if job.top1_output is not None else sorted(job.expected)
    agree: NDArray[np.bool_] | None = None
    for name in names:
        want, have = np.asarray(job.expected[name]), np.asarray(got.get(name))
        if name not in got or have.shape != want.shape:
            raise ShadowMismatchError(f"output {name!r} does not match the primary's")
        if job.top1_output is not None:
            same = np.argmax(want, axis=-1) == np.argmax(have, axis=-1)
            rows = same.reshape(len(want), -1).all(axis=1)
        else:
            wanted, had = want.astype(np.float64), have.astype(np.float64)
            close = np.abs(had - wanted) <= job.tolerance * np.abs(wanted) + ABSOLUTE_FLOOR
            rows = close.reshape(len(want), -1).all(axis=1)
        agree = rows if agree is None else agree & rows
    if agree is None:
        raise ShadowMismatchError("the primary returned no outputs")
    return agree


def _digest(inputs: Arrays, row: int) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for name in sorted(inputs):
        digest.update(np.ascontiguousarray(inputs[name][row]).tobytes())
    return digest.hexdigest()


def _answer(job: ShadowJob, outputs: Arrays, row: int) -> dict[str, Any]:
    if job.top1_output is not None:
        scores = np.asarray(outputs[job.top1_output][row]).reshape(-1)
        index = int(np.argmax(scores))
        label = job.labels[index] if index < len(job.labels) else str(index)
        return {"label": label, "index": index, "score": float(scores[index])}
    return {
        name: np.asarray(outputs[name][row]).reshape(-1)[:VALUES_SHOWN].astype(float).tolist()
        for name in sorted(outputs)
    }


def _sample(job: ShadowJob, got: Arrays, row: int) -> dict[str, Any]:
    return {
        "at": round(time.time(), 3),
        "primary_version": job.primary,
        "shadow_version": job.shadow,
        "input_digest": _digest(job.inputs, row),
        "primary": _answer(job, job.expected, row),
        "shadow": _answer(job, got, row),
    }


class ShadowRunner:
    """Runs shadow calls as tasks of their own, at most ``limit`` at once (the rest shed)."""

    def __init__(self, limit: int, observer: RolloutObserver) -> None:
        self.limit = limit
        self._observer = observer
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def submit(self, job: ShadowJob) -> bool:
        """Start ``job`` unless ``limit`` calls are already pending; False when shed."""
        if len(self._tasks) >= self.limit:
            job.record.shed += 1
            self._observer.shadow_shed(job.model)
            return False
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, job: ShadowJob) -> None:
        rows = len(next(iter(job.expected.values()), ()))
        started = time.perf_counter()
        try:
            got = await job.run()
            agree = agreeing_rows(job, got)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the shadow's failure is counted, never raised
            logger.debug("shadow call to %s v%d failed: %s", job.model, job.shadow, exc)
            self._count(job, "error", rows)
            return
        self._observer.shadow_ran(job.model, job.shadow, time.perf_counter() - started)
        agreeing = int(agree.sum())
        self._count(job, "agree", agreeing)
        self._count(job, "disagree", len(agree) - agreeing)
        for row in np.flatnonzero(~agree)[:SAMPLES_KEPT]:
            job.record.samples.append(_sample(job, got, int(row)))

    def _count(self, job: ShadowJob, outcome: ShadowOutcome, rows: int) -> None:
        if rows:
            job.record.add(job.primary, job.shadow, outcome, rows)
            self._observer.shadow_compared(job.model, job.primary, job.shadow, outcome, rows)

    async def close(self) -> None:
        """Cancel the shadow calls still pending (at shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
