"""Dynamic batching: many concurrent requests, one TensorFlow call per batch.

One :class:`DynamicBatcher` serves one loaded model version. Requests queue on
the event loop; ``inference_threads`` worker tasks each take a batch and run it in
the inference thread pool, so TensorFlow never blocks the loop.

When to dispatch:

* An idle model runs what is queued at once. A lone caller (concurrency 1) never
  waits for company, so batching costs it nothing.
* While a batch runs, requests pile up; the next batch takes up to
  ``max_batch_size`` rows. It waits up to ``max_queue_delay_s`` for more only
  when more are plausibly on their way: another batch is still running, or fewer
  requests are queued than the last batch held (those callers were just answered
  and closed-loop clients send again within a round trip).
* Work the loop does faster than a hop to an inference thread and back would cost it
  runs on the loop itself (`service.runtime.placement` times the model per batch size):
  a lone row on an idle model measured under ``idle_inline_max_s`` (0.5 ms), run
  inside ``submit`` when the caller looks alone and is not ``in_company`` (its future
  comes back done), and a batch measured under ``inline_batch_max_s`` (1 ms) while
  no other batch runs; 0 turns either off. A shadow's ``off_loop`` rows never do.
* A full batch queued while every inference thread is busy goes to the pool at once,
  behind the running batch: the thread need not wait for the loop, which may be busy
  preparing a 64-image upload when a batch ends. One such batch at most.
* A batch is padded to the next of ``batch_sizes`` (repeating its last row), the
  shapes the model was warmed up with, and the padding is sliced off the outputs.

Back-pressure: a request finding ``max_queue_size`` rows queued fails at once
with ``QueueFullError``; one still queued when its timeout passes fails with
``DeadlineExceededError`` and is never run; a cancelled caller is skipped.
"""

import asyncio
import functools
import logging
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from service.runtime.batches import Outputs, QueuedRequest, Ran, distribute, fail_all, run_padded
from service.runtime.encoded import Inputs
from service.runtime.errors import (
    DeadlineExceededError,
    QueueFullError,
    ServiceStoppingError,
)
from service.runtime.observer import NullObserver, RuntimeObserver
from service.runtime.placement import Placement
from service.runtime.settings import RuntimeSettings
from service.runtime.tensors import PredictFn

logger = logging.getLogger(__name__)


class DynamicBatcher:
    """Queue plus worker tasks for one model version; see the module docstring."""

    def __init__(
        self,
        predict: PredictFn,
        settings: RuntimeSettings,
        executor: Executor,
        *,
        name: str,
        version: int,
        observer: RuntimeObserver | None = None,
        measured: Mapping[int, float] | None = None,
    ) -> None:
        """``measured``: the model's own seconds per padded batch size, timed at load."""
        self._predict = predict
        self._settings = settings
        self._executor = executor
        self._name = name
        self._version = version
        self._observer = observer or NullObserver()
        self._queue: deque[QueuedRequest] = deque()
        self._queued_rows = 0
        self._queued_requests = 0
        self._running = 0
        self._last_requests = 0  # requests in the latest batch: callers likely to return
        self._turn_taken = False  # a request ran at once in this turn of the event loop
        self._batch_seconds = 0.001  # moving average, for Retry-After estimates
        self._placement = Placement(settings, measured)
        self._waiters: list[asyncio.Future[None]] = []
        self._workers: list[asyncio.Task[None]] = []
        # One timer for the earliest deadline queued: one each was 3% of the loop at c=64.
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = math.inf
        self._ahead: asyncio.Future[Ran] | None = None

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def start(self) -> None:
        """Start the worker tasks on the running loop."""
        loop = asyncio.get_running_loop()
        label = f"batcher-{self._name}-{self._version}"
        self._workers = [
            loop.create_task(self._work(), name=f"{label}-{index}")
            for index in range(self._settings.inference_threads)
        ]

    def check_capacity(self) -> None:
        """Raise ``QueueFullError`` when no more requests may queue."""
        if self._queued_rows >= self._settings.max_queue_size:
            self._observer.rejected(self._name, self._version, "queue_full")
            raise QueueFullError(retry_after=self.retry_after())

    def retry_after(self) -> float:
        batches = math.ceil((self._queued_rows + 1) / self._settings.max_batch_size)
        return max(0.001, batches * self._batch_seconds / self._settings.inference_threads)

    def submit(
        self,
        inputs: Inputs,
        rows: int,
        timeout_s: float,
        *,
        off_loop: bool = False,
        in_company: bool = False,
    ) -> "asyncio.Future[Outputs]":
        """Queue ``rows`` rows (at most ``max_batch_size``); the future gets their outputs.

        ``off_loop`` rows run on an inference thread even when the model is fast enough to
        run on the event loop. ``in_company``: the caller knows others are in progress,
        so it queues for a batch instead of running at once however alone it looks.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outputs] = loop.create_future()
        now = loop.time()
        request = QueuedRequest(inputs, rows, future, now, now + timeout_s, off_loop)
        if not (off_loop or in_company) and self._may_run_at_once(rows):
            # What a worker would do on its next turn, done now: no timer, no wake-up, no
            # extra loop iteration, and the caller's await finds the answer ready.
            self._turn_taken = True
            loop.call_soon(self._end_turn)
            self._last_requests = 1
            self._observer.queue_wait(self._name, self._version, 0.0)
            self._run_inline([request], 1)
            return future
        if request.deadline < self._watchdog_at:
            self._arm_watchdog(loop, request.deadline)
        self._queue.append(request)
        self._queued_rows += rows
        self._queued_requests += 1
        self._observer.queue_depth(self._name, self._version, self._queued_rows)
        self._wake()
        self._run_ahead_if_full()
        return future

    def fail_queued(self, error: Callable[[], Exception]) -> int:
        """Fail everything still queued (used when a drain times out); return how many."""
        failed = 0
        while self._queue:
            request = self._queue.popleft()
            if not request.dropped and not request.future.done():
                request.future.set_exception(error())
                failed += 1
        self._queued_rows = self._queued_requests = 0
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog, self._watchdog_at = None, math.inf
        return failed

    async def close(self) -> None:
        """Stop the workers; a batch still running has its callers told the service stops."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        self.fail_queued(ServiceStoppingError)
        self._predict = _closed  # drop the model so its memory can be freed

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _sleep(self, timeout_s: float | None) -> None:
        """Sleep until the next arrival, or ``timeout_s``."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        timer = None if timeout_s is None else loop.call_later(timeout_s, _release, waiter)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()

    def _arm_watchdog(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = loop.call_at(when, self._expire_overdue)
        self._watchdog_at = when

    def _expire_overdue(self) -> None:
        """Fail the queued requests whose deadline has passed; watch for the next one."""
        self._watchdog, self._watchdog_at = None, math.inf
        loop = asyncio.get_running_loop()
        now = loop.time()
        earliest = math.inf
        for request in self._queue:
            if request.dropped or request.future.done():
                continue
            if request.deadline <= now:
                self._expire(request, now)
            else:
                earliest = min(earliest, request.deadline)
        if earliest < math.inf:
            self._arm_watchdog(loop, earliest)

    def _expire(self, request: QueuedRequest, now: float) -> None:
        request.dropped = True
        self._queued_rows -= request.rows
        self._queued_requests -= 1
        request.future.set_exception(DeadlineExceededError(now - request.enqueued))
        self._observer.rejected(self._name, self._version, "deadline")
        self._observer.queue_depth(self._name, self._version, self._queued_rows)

    async def _work(self) -> None:
        while True:
            while self._queued_requests == 0:
                await self._sleep(None)
            await self._gather_more()
            batch, rows = self._take()
            if not batch:
                continue
            if self._runs_on_loop(batch, rows):
                self._run_inline(batch, rows)
            else:
                await self._run(batch, rows)

    def _runs_on_loop(self, batch: list[QueuedRequest], rows: int) -> bool:
        """A lone row of a fast model, or a batch measured faster than the hop to a thread
        (module docstring), while no batch runs and none of its requests is `off_loop`."""
        if self._running or any(request.off_loop for request in batch):
            return False
        padded = self._settings.padded_size(rows)
        return self._may_run_inline(rows) or self._placement.batch_on_loop(padded)

    def _may_run_at_once(self, rows: int) -> bool:
        """`_may_run_inline`, for a caller that looks alone: the last batch held one
        request, and no request has run at once in this turn of the loop.

        Requests whose bytes arrive together are all submitted in one turn. Run at once,
        they would go one row at a time (92% of batches at 64 clients); the second one
        of a turn queues instead, and the worker takes the rest of the burst as a batch.
        """
        return self._last_requests <= 1 and not self._turn_taken and self._may_run_inline(rows)

    def _end_turn(self) -> None:
        self._turn_taken = False

    def _may_run_inline(self, rows: int) -> bool:
        """A lone row, nothing else queued or running, and a measured fast model."""
        return (
            rows == 1
            and self._running == 0
            and self._queued_requests == 0
            and self._placement.lone_row_on_loop()
        )

    def _run_inline(self, batch: list[QueuedRequest], rows: int) -> None:
        padded = self._settings.padded_size(rows)
        try:
            ran = self._predict_padded([r.inputs for r in batch], rows, padded)
        except Exception as exc:
            logger.exception("batch of %d rows failed on %s v%d", rows, self._name, self._version)
            fail_all(batch, exc)
            return
        self._finish_batch(batch, ran, rows, padded, on_loop=True)

    async def _gather_more(self) -> None:
        """Wait up to ``max_queue_delay_s`` while more requests are plausibly coming."""
        settings = self._settings
        if settings.max_queue_delay_s <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.max_queue_delay_s
        while self._queued_rows < settings.max_batch_size and (
            self._running > 0 or self._queued_requests < self._last_requests
        ):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await self._sleep(remaining)

    def _take(self) -> tuple[list[QueuedRequest], int]:
        """Pop whole requests up to ``max_batch_size`` rows, skipping dead ones."""
        now = asyncio.get_running_loop().time()
        batch: list[QueuedRequest] = []
        rows = 0
        queue = self._queue
        while queue and rows + queue[0].rows <= self._settings.max_batch_size:
            request = queue.popleft()
            if request.dropped:
                continue
            self._queued_rows -= request.rows
            self._queued_requests -= 1
            if request.future.done():  # the caller gave up
                continue
            batch.append(request)
            rows += request.rows
            self._observer.queue_wait(self._name, self._version, now - request.enqueued)
        if batch:
            self._last_requests = len(batch)
            self._observer.queue_depth(self._name, self._version, self._queued_rows)
        return batch, rows

    async def _run(self, batch: list[QueuedRequest], rows: int) -> None:
        padded = self._settings.padded_size(rows)
        inputs = [request.inputs for request in batch]
        self._running += 1
        try:
            pending = asyncio.get_running_loop().run_in_executor(
                self._executor, self._predict_padded, inputs, rows, padded
            )
            self._run_ahead_if_full()
            ran = await pending
        except asyncio.CancelledError:
            fail_all(batch, ServiceStoppingError())
            raise
        except Exception as exc:
            logger.exception("batch of %d rows failed on %s v%d", rows, self._name, self._version)
            fail_all(batch, exc)
            return
        finally:
            self._running -= 1
        self._finish_batch(batch, ran, rows, padded)

    def _run_ahead_if_full(self) -> None:
        """Queue a full batch on the thread pool behind the running ones (module docstring)."""
        settings = self._settings
        if (
            self._ahead is not None
            or self._running < settings.inference_threads
            or self._queued_rows < settings.max_batch_size
        ):
            return
        batch, rows = self._take()
        if not batch:
            return
        padded = settings.padded_size(rows)
        self._running += 1
        self._ahead = asyncio.get_running_loop().run_in_executor(
            self._executor, self._predict_padded, [r.inputs for r in batch], rows, padded
        )
        self._ahead.add_done_callback(functools.partial(self._ahead_done, batch, rows, padded))

    def _ahead_done(
        self, batch: list[QueuedRequest], rows: int, padded: int, done: "asyncio.Future[Any]"
    ) -> None:
        self._ahead = None
        self._running -= 1
        error = ServiceStoppingError() if done.cancelled() else done.exception()
        if error is not None:
            logger.error(
                "batch of %d rows failed on %s v%d: %s", rows, self._name, self._version, error
            )
            fail_all(batch, error)
        else:
            self._finish_batch(batch, done.result(), rows, padded)
        self._run_ahead_if_full()

    def _finish_batch(
        self,
        batch: list[QueuedRequest],
        ran: Ran,
        rows: int,
        padded: int,
        *,
        on_loop: bool = False,
    ) -> None:
        if ran.outputs:  # the model ran (not when every request's inputs failed)
            self._batch_seconds += 0.2 * (ran.seconds - self._batch_seconds)
            self._placement.record(padded, ran.seconds, on_loop=on_loop)
            self._observer.batch_ran(self._name, self._version, rows, padded, ran.seconds)
        distribute(batch, ran)

    def _predict_padded(self, inputs: Sequence[Inputs], rows: int, padded: int) -> Ran:
        return run_padded(self._predict, inputs, rows, padded)


def _closed(inputs: Inputs) -> Outputs:
    raise ServiceStoppingError()


def _release(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_result(None)
