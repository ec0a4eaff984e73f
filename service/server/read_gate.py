"""Read requests from a bounded number of connections; the rest wait, unread, in the kernel.

With thousands of clients each holding a request open, reading them all at once puts
thousands of parsed requests, tasks and admission waiters in the process: the cost of
every answer grows with them (memory touched per turn, the collector walking them) and,
past the admission queue, the surplus is refused and sent again in a loop. The gate lets
`limit` connections read; a new connection beyond it, or one that has just been answered
while others wait their turn, is paused (its next request stays in the kernel's socket
buffer, which costs the process nothing) and resumed in arrival order when a reading
connection finishes a request or closes.

A turn is not held by a connection doing nothing with it: while others wait, one that has
had no request in progress for `idle_turn_s` (an idle keep-alive client, or one trickling
its headers) goes to the back of the line. A connection paused for longer than
`max_wait_s` is resumed even over the limit, so the admission queue can refuse it with
Retry-After rather than leave it waiting without an answer.
"""

import asyncio
import time
from collections import OrderedDict, deque
from typing import Protocol

IDLE_TURN_S = 0.5


class GatedConnection(Protocol):
    """What the gate needs of a connection (`service.api.tcp_nodelay`'s protocols)."""

    def pause_reading_at_gate(self) -> None: ...

    def resume_reading_at_gate(self) -> None: ...

    def is_closing(self) -> bool: ...

    def has_request_in_progress(self) -> bool: ...


class ReadGate:
    """One per process: which connections may read, and who waits in what order."""

    def __init__(self, limit: int, max_wait_s: float, idle_turn_s: float = IDLE_TURN_S) -> None:
        self.limit = limit
        self.max_wait_s = max_wait_s
        self.idle_turn_s = idle_turn_s
        # Reading connections by when their turn began or last served a request, oldest first.
        self.reading: OrderedDict[GatedConnection, float] = OrderedDict()
        self._parked: deque[tuple[float, GatedConnection]] = deque()
        self._parked_set: set[GatedConnection] = set()
        self._check: asyncio.TimerHandle | None = None  # the next late or idle check
        self._check_at = 0.0

    @property
    def parked(self) -> int:
        return len(self._parked_set)

    def opened(self, connection: GatedConnection) -> None:
        """A new connection reads at once if there is room, else waits its turn."""
        if len(self.reading) < self.limit and not self._parked_set:
            self.reading[connection] = time.monotonic()
        else:
            self._park(connection)
            self._wake()

    def answered(self, connection: GatedConnection) -> None:
        """A request was answered: give the turn to a waiting connection, if any."""
        if connection in self.reading:
            if self._parked_set:
                del self.reading[connection]
                self._park(connection)
            else:
                self.reading[connection] = time.monotonic()
                self.reading.move_to_end(connection)
        self._wake()

    def closed(self, connection: GatedConnection) -> None:
        self.reading.pop(connection, None)
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
            full = len(self.reading) >= self.limit
            if full and now - since < self.max_wait_s and not self._take_an_idle_turn(now):
                self._check_again(since + self.max_wait_s)
                return
            parked.popleft()
            self._parked_set.discard(connection)
            self.reading[connection] = now
            connection.resume_reading_at_gate()

    def _take_an_idle_turn(self, now: float) -> bool:
        """Send the reading connection longest without a request to the back, if idle long."""
        for connection, since in self.reading.items():
            if now - since < self.idle_turn_s:
                self._check_again(since + self.idle_turn_s)
                return False
            if connection.has_request_in_progress():
                self.reading.move_to_end(connection)  # busy: looked at again later
                self.reading[connection] = now
                return False
            del self.reading[connection]
            self._park(connection)
            return True
        return False

    def _check_again(self, deadline: float) -> None:
        """One timer, for the next connection that will be late or idle too long."""
        if self._check is not None:
            if self._check_at <= deadline:
                return
            self._check.cancel()
        self._check_at = deadline
        delay = max(0.0, deadline - time.monotonic())
        self._check = asyncio.get_running_loop().call_later(delay, self._checked)

    def _checked(self) -> None:
        self._check = None
        self._wake()
