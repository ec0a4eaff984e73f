"""Read requests from a bounded number of connections; the rest wait, unread, in the kernel.

With thousands of clients each holding a request open, reading them all at once puts
thousands of parsed requests, tasks and admission waiters in the process: the cost of
every answer grows with them (memory touched per turn, the collector walking them) and,
past the admission queue, the surplus is refused and sent again in a loop. The gate lets
`limit` connections read; a new connection beyond it, or one that has just been answered
while others wait their turn, is paused (its next request stays in the kernel's socket
buffer, which costs the process nothing) and resumed in arrival order when a reading
connection finishes a request or closes. A connection paused for longer than
`max_wait_s` is resumed even over the limit, so the admission queue can refuse it with
Retry-After rather than leave it waiting without an answer.
"""

import asyncio
import time
from collections import deque
from typing import Protocol


class GatedConnection(Protocol):
    """What the gate needs of a connection (`service.api.tcp_nodelay`'s protocols)."""

    def pause_reading_at_gate(self) -> None: ...

    def resume_reading_at_gate(self) -> None: ...

    def is_closing(self) -> bool: ...


class ReadGate:
    """One per process: which connections may read, and who waits in what order."""

    def __init__(self, limit: int, max_wait_s: float) -> None:
        self.limit = limit
        self.max_wait_s = max_wait_s
        self.reading: set[GatedConnection] = set()
        self._parked: deque[tuple[float, GatedConnection]] = deque()
        self._parked_set: set[GatedConnection] = set()
        self._late_check: asyncio.TimerHandle | None = None  # for the oldest one parked

    @property
    def parked(self) -> int:
        return len(self._parked_set)

    def opened(self, connection: GatedConnection) -> None:
        """A new connection reads at once if there is room, else waits its turn."""
        if len(self.reading) < self.limit and not self._parked_set:
            self.reading.add(connection)
        else:
            self._park(connection)
            self._wake()

    def answered(self, connection: GatedConnection) -> None:
        """A request was answered: give the turn to a waiting connection, if any."""
        if self._parked_set and connection in self.reading:
            self.reading.discard(connection)
            self._park(connection)
        self._wake()

    def closed(self, connection: GatedConnection) -> None:
        self.reading.discard(connection)
        self._parked_set.discard(connection)  # its deque entry is skipped when reached
        self._wake()

    def _park(self, connection: GatedConnection) -> None:
        connection.pause_reading_at_gate()
        self._parked.append((time.monotonic(), connection))
        self._parked_set.add(connection)

    def _wake(self) -> None:
        """Resume waiting connections, oldest first, while there is room or they are late."""
        parked, now = self._parked, time.monotonic()
        while parked:
            since, connection = parked[0]
            if connection not in self._parked_set or connection.is_closing():
                parked.popleft()
                self._parked_set.discard(connection)
                continue
            if len(self.reading) >= self.limit and now - since < self.max_wait_s:
                self._check_again_at(since + self.max_wait_s)
                return
            parked.popleft()
            self._parked_set.discard(connection)
            self.reading.add(connection)
            connection.resume_reading_at_gate()

    def _check_again_at(self, deadline: float) -> None:
        """One timer, for the oldest connection parked: resume it when it is late."""
        if self._late_check is None:
            delay = max(0.0, deadline - time.monotonic())
            self._late_check = asyncio.get_running_loop().call_later(delay, self._late)

    def _late(self) -> None:
        self._late_check = None
        self._wake()
