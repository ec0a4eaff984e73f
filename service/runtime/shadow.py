"""Shadow traffic: once the primary has answered, the same rows go to the shadow version.

The primary's answer is never delayed, changed or failed by it: shadow calls are
tasks of their own, started after the primary's outputs are in hand, and everything
they raise ends there (outcome ``error``). At most ``limit`` primary calls are waiting
for or in a shadow call per process; one more is shed (counted), so at concurrency 1
nothing is.

Shadow rows are grouped: the rows of primary calls that end within ``linger_s`` of
each other (up to ``max_rows``) go to the shadow in one call. The shadow's answers are
only compared, so waiting costs nobody, and one call per group instead of one per
request is what keeps a shadow at 100% from slowing a lone client's requests: with a
call each, the shadow's own hops and wake-ups came between the primary's (measured
with bench.ab: the primary's c=1 p50 0.23 ms without a shadow, 0.37 ms with). The
linger is long enough (50 ms) for a lone client's rows to fill a group of 64: at 5 ms
a group held ~10 rows, and the loop's share of each shadow call showed in the p50.
Everything a pair's calls share is made once (`ShadowPlan`); a request adds its tensors.

Agreement is counted per row (per image of a 64-image request): a classifier's row
agrees when its top-1 class is the same; any other model's when every value is within
``tolerance`` of the primary's, relative to the primary's magnitude
(``|shadow - primary| <= tolerance * |primary| + 1e-6``). The latest disagreeing rows
are kept (an input digest and both answers) so people can see what disagreed.
"""

import asyncio
import functools
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.runtime.observer import RolloutObserver, ShadowOutcome

logger = logging.getLogger(__name__)

SAMPLES_KEPT = 20
VALUES_SHOWN = 10
ABSOLUTE_FLOOR = 1e-6
GROUP_ROWS = 64  # a group is sent once it holds this many rows
GROUP_LINGER_S = 0.05  # ... or this long after its first

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


@dataclass(frozen=True, eq=False)
class ShadowPlan:
    """What every shadow call of one primary/shadow pair shares; made once per pair, so
    a request only adds its tensors (`ShadowJob`). Jobs of one plan are grouped."""

    model: str
    primary: int
    shadow: int
    run: Callable[[Arrays], Awaitable[Arrays]]  # calls the shadow on a job's or a group's rows
    top1_output: str | None  # a classifier's scores: compare top-1 classes only
    labels: Sequence[str]
    tolerance: float
    record: ShadowRecord


@dataclass(frozen=True, slots=True)
class ShadowJob:
    """One primary call to repeat on the shadow version and compare."""

    plan: ShadowPlan
    inputs: Arrays
    expected: Arrays

    @property
    def rows(self) -> int:
        return len(next(iter(self.expected.values()), ()))

    def layout(self) -> Hashable:
        """Equal for jobs of one plan whose inputs and outputs can be stacked together."""
        return _layout(self.inputs), _layout(self.expected)


def _layout(arrays: Arrays) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    return tuple((n, a.dtype.str, a.shape[1:]) for n, a in sorted(arrays.items()))


def by_layout(jobs: Sequence[ShadowJob]) -> list[list[ShadowJob]]:
    """``jobs`` in runs that can be stacked, in order of first appearance."""
    if _uniform([job.inputs for job in jobs]) and _uniform([job.expected for job in jobs]):
        return [list(jobs)]  # nearly always: one model's answers to one preprocessing
    runs: dict[Hashable, list[ShadowJob]] = {}
    for job in jobs:
        runs.setdefault(job.layout(), []).append(job)
    return list(runs.values())


def _uniform(parts: Sequence[Arrays]) -> bool:
    """Whether every part has the same names, and per name one dtype and row shape: a
    set per name, much cheaper per job than a `layout` each."""
    names = parts[0].keys()
    return all(part.keys() == names for part in parts) and all(
        len({(part[name].dtype, part[name].shape[1:]) for part in parts}) == 1 for name in names
    )


def stacked(jobs: Sequence[ShadowJob]) -> ShadowJob:
    """One job for a run's rows, in order (the job itself when alone)."""
    if len(jobs) == 1:
        return jobs[0]

    def stack(arrays: Sequence[Arrays]) -> dict[str, NDArray[Any]]:
        return {name: np.concatenate([part[name] for part in arrays]) for name in arrays[0]}

    return ShadowJob(
        jobs[0].plan,
        stack([job.inputs for job in jobs]),
        stack([job.expected for job in jobs]),
    )


class ShadowMismatchError(Exception):
    """The shadow's outputs cannot be compared with the primary's (names or shapes)."""


def agreeing_rows(job: ShadowJob, got: Arrays) -> NDArray[np.bool_]:
    """Per row of the primary's answer, whether the shadow's answer agrees."""
    plan = job.plan
    names = [plan.top1_output] if plan.top1_output is not None else sorted(job.expected)
    agree: NDArray[np.bool_] | None = None
    for name in names:
        want, have = np.asarray(job.expected[name]), np.asarray(got.get(name))
        if name not in got or have.shape != want.shape:
            raise ShadowMismatchError(f"output {name!r} does not match the primary's")
        if plan.top1_output is not None:
            same = np.argmax(want, axis=-1) == np.argmax(have, axis=-1)
            rows = same.reshape(len(want), -1).all(axis=1)
        else:
            wanted, had = want.astype(np.float64), have.astype(np.float64)
            close = np.abs(had - wanted) <= plan.tolerance * np.abs(wanted) + ABSOLUTE_FLOOR
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


def _answer(plan: ShadowPlan, outputs: Arrays, row: int) -> dict[str, Any]:
    if plan.top1_output is not None:
        scores = np.asarray(outputs[plan.top1_output][row]).reshape(-1)
        index = int(np.argmax(scores))
        label = plan.labels[index] if index < len(plan.labels) else str(index)
        return {"label": label, "index": index, "score": float(scores[index])}
    return {
        name: np.asarray(outputs[name][row]).reshape(-1)[:VALUES_SHOWN].astype(float).tolist()
        for name in sorted(outputs)
    }


def _sample(job: ShadowJob, got: Arrays, row: int) -> dict[str, Any]:
    return {
        "at": round(time.time(), 3),
        "primary_version": job.plan.primary,
        "shadow_version": job.plan.shadow,
        "input_digest": _digest(job.inputs, row),
        "primary": _answer(job.plan, job.expected, row),
        "shadow": _answer(job.plan, got, row),
    }


@dataclass
class _Group:
    jobs: list[ShadowJob]
    timer: asyncio.TimerHandle
    rows: int = 0


class ShadowRunner:
    """Groups shadow jobs and runs each group as a task of its own (module docstring);
    at most ``limit`` jobs are pending at once, the rest are shed."""

    def __init__(
        self,
        limit: int,
        observer: RolloutObserver,
        *,
        max_rows: int = GROUP_ROWS,
        linger_s: float = GROUP_LINGER_S,
    ) -> None:
        self.limit = limit
        self._observer = observer
        self._max_rows = max_rows
        self._linger_s = linger_s
        self._groups: dict[ShadowPlan, _Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0

    @property
    def pending(self) -> int:
        """Jobs waiting in a group or in a running shadow call."""
        return self._pending

    def submit(self, job: ShadowJob) -> bool:
        """Queue ``job`` unless ``limit`` jobs are already pending; False when shed."""
        plan = job.plan
        if self._pending >= self.limit:
            plan.record.shed += 1
            self._observer.shadow_shed(plan.model)
            return False
        self._pending += 1
        group = self._groups.get(plan)
        if group is None:
            timer = asyncio.get_running_loop().call_later(self._linger_s, self._send, plan)
            group = self._groups[plan] = _Group([], timer)
        group.jobs.append(job)
        group.rows += job.rows
        if group.rows >= self._max_rows:
            self._send(plan)
        return True

    def _send(self, plan: ShadowPlan) -> None:
        """One shadow call per run of stackable jobs (a plan's jobs nearly always are)."""
        group = self._groups.pop(plan)
        group.timer.cancel()
        loop = asyncio.get_running_loop()
        for run in by_layout(group.jobs):
            task = loop.create_task(self._run(stacked(run)))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finished, jobs=len(run)))

    def _finished(self, task: "asyncio.Task[None]", jobs: int) -> None:
        self._tasks.discard(task)
        self._pending -= jobs

    async def _run(self, job: ShadowJob) -> None:
        rows, plan = job.rows, job.plan
        started = time.perf_counter()
        try:
            got = await plan.run(job.inputs)
            agree = agreeing_rows(job, got)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the shadow's failure is counted, never raised
            logger.debug("shadow call to %s v%d failed: %s", plan.model, plan.shadow, exc)
            self._count(plan, "error", rows)
            return
        self._observer.shadow_ran(plan.model, plan.shadow, time.perf_counter() - started)
        agreeing = int(agree.sum())
        self._count(plan, "agree", agreeing)
        self._count(plan, "disagree", len(agree) - agreeing)
        for row in np.flatnonzero(~agree)[:SAMPLES_KEPT]:
            plan.record.samples.append(_sample(job, got, int(row)))

    def _count(self, plan: ShadowPlan, outcome: ShadowOutcome, rows: int) -> None:
        if rows:
            plan.record.add(plan.primary, plan.shadow, outcome, rows)
            self._observer.shadow_compared(plan.model, plan.primary, plan.shadow, outcome, rows)

    async def close(self) -> None:
        """Drop the groups not sent and cancel the shadow calls running (at shutdown)."""
        for group in self._groups.values():
            group.timer.cancel()
            self._pending -= len(group.jobs)
        self._groups.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
