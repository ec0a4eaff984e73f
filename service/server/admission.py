"""Admission: at most `max_active` requests in progress per process, the rest wait in line.

One line for two kinds of waiter. A request that `service.api.tcp_nodelay`'s HTTP
protocol holds back waits as nothing more than its parsed headers: no task, no
coroutine frames, no future; admitted, it starts as any request starts, with the slot
already its own. Under thousands of connections this is most of the requests in the
process, and a waiter that is one small record instead of a suspended chain of
middleware cost ~5% less CPU per answer at 2,000 connections (docs/reliability.md).
A request that reaches `AdmissionMiddleware` unadmitted (another protocol, a test's
ASGI transport) waits there on a future, in the same line.

A slot freed by a finishing request goes straight to the oldest waiter still there, so
work already admitted is never crowded out by new arrivals. A waiter that would be
number `max_waiting + 1`, or that has waited `timeout_s`, is refused (a 503 with
Retry-After, its body never read). One timer expires waiters from the front of the
line, instead of a timer per waiter.
"""

import asyncio
from collections import deque
from typing import Protocol

from starlette.types import Scope

# Answered whatever the load: probes must not queue behind inference, or a balancer
# would take a busy replica for a dead one.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"})
# Set in the scope of a request the connection admitted (True: it holds a slot, which
# the middleware gives back when it finishes) or refused (False).
ADMITTED_KEY = "kerasserve.admitted"
# Set with it when the request waited at its connection: when it was read
# (`time.perf_counter`), so that its latency in the logs and metrics counts the wait.
ARRIVED_KEY = "kerasserve.arrived"


def held_back(scope: Scope) -> bool:
    """Whether this request waits for a slot: probes and CORS preflights never do."""
    if scope["type"] != "http":
        return False
    return scope["path"] not in PROBE_PATHS and scope["method"] != "OPTIONS"


class Waiter(Protocol):
    """Someone in line: told once whether they got a slot, unless they left first."""

    def gone(self) -> bool: ...

    def admit(self, granted: bool) -> None: ...


class FutureWaiter:
    """A request waiting in a coroutine, on a future."""

    def __init__(self, future: "asyncio.Future[bool]") -> None:
        self.future = future

    def gone(self) -> bool:
        return self.future.done()  # only cancellation completes it before `admit`

    def admit(self, granted: bool) -> None:
        self.future.set_result(granted)


class Admission:
    """One per process: the slots in use and the line of waiters, oldest first."""

    def __init__(self, max_active: int, max_waiting: int, timeout_s: float) -> None:
        self.max_active = max_active
        self.max_waiting = max_waiting
        self.timeout_s = timeout_s
        self.active = 0
        self._waiters: deque[tuple[float, Waiter]] = deque()
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_enter(self) -> bool:
        """Take a slot if one is free and nobody waits for it."""
        if self.active < self.max_active and not self._live_waiters():
            self.active += 1
            return True
        return False

    def enqueue(self, waiter: Waiter) -> bool:
        """Join the line; False when it is full (refuse at once)."""
        if len(self._waiters) >= self.max_waiting:
            return False
        loop = asyncio.get_running_loop()
        self._waiters.append((loop.time() + self.timeout_s, waiter))
        if self._expiry is None:
            self._expiry = loop.call_later(self.timeout_s, self._expire)
        return True

    async def wait(self) -> bool:
        """Wait in line in this coroutine: True once handed a slot, False when refused."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if not self.enqueue(FutureWaiter(future)):
            return False
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.result():
                self.release()  # handed a slot just as it was cancelled: pass it on
            raise

    def release(self) -> None:
        """A request finished: its slot goes to the oldest waiter still there."""
        waiters = self._waiters
        while waiters:
            _, waiter = waiters.popleft()
            if not waiter.gone():
                waiter.admit(True)  # the slot passes on; `active` stays the same
                return
        self.active -= 1

    def _live_waiters(self) -> bool:
        """Whether anyone waits; those who left are dropped from the front."""
        waiters = self._waiters
        while waiters and waiters[0][1].gone():
            waiters.popleft()
        return bool(waiters)

    def _expire(self) -> None:
        """Refuse the waiters whose time is up (the oldest, at the front); re-arm."""
        self._expiry = None
        waiters = self._waiters
        loop = asyncio.get_running_loop()
        now = loop.time()
        while waiters and (waiters[0][0] <= now or waiters[0][1].gone()):
            _, waiter = waiters.popleft()
            if not waiter.gone():
                waiter.admit(False)
        if waiters:
            self._expiry = loop.call_at(waiters[0][0], self._expire)
