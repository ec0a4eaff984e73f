"""uvicorn's HTTP protocols, plus TCP_NODELAY and the process's read gate on every connection.

uvicorn 0.54 serving from a shared, pre-bound socket (its multi-worker mode) leaves
Nagle's algorithm on: a response written in two sends waits for the client's delayed
ACK, about 40 ms per response (uvicorn issue #3149). Setting the option ourselves makes
one and several workers behave alike. Each connection also reads through the
`ReadGate` the app's lifespan put in its state (`service.server.read_gate`): beyond its
limit, a connection's next request waits unread in the kernel. A request read while the
process has no free slot waits as a record in the `Admission` line, its task started
only once a slot is its own (`service.server.admission`). Named by import string
in the uvicorn config ("service.api.tcp_nodelay:NoDelayHttpToolsProtocol"), so spawned
workers can resolve it.
"""

import asyncio
import contextvars
import socket
import time
from typing import TYPE_CHECKING, cast

from starlette.types import Scope
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.api.head_with_body import OneSendTransport
from service.server.admission import ADMITTED_KEY, ARRIVED_KEY, Admission, held_back
from service.server.read_gate import ReadGate

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
except ImportError:  # httptools is optional; h11 is always there
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

READ_GATE_STATE_KEY = "read_gate"  # in the lifespan state (`LifespanState`)
ADMISSION_STATE_KEY = "admission"


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


if TYPE_CHECKING:
    _Protocol = H11Protocol  # the attributes both uvicorn protocols share
else:
    _Protocol = object


class _GatedReading(_Protocol):
    """The connection hooks both protocols share: no delay, and reading at the gate."""

    read_gate: ReadGate | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)
        self.read_gate = self.app_state.get(READ_GATE_STATE_KEY)
        if self.read_gate is not None:
            # uvloop starts reading once this returns, whatever was asked in here: pause
            # in the next callback, which runs before the loop's next read.
            self.loop.call_soon(self._open_at_gate)

    def _open_at_gate(self) -> None:
        if self.read_gate is not None and not self.transport.is_closing():
            self.read_gate.opened(self)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.read_gate is not None:
            self.read_gate.answered(self)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.read_gate is not None:
            self.read_gate.closed(self)
        # A request that never started (its client left while it waited as a record)
        # still holds this protocol through its cycle's `on_response`, which uvicorn
        # unbinds only when a request ends, and this protocol holds the cycle: left so,
        # each stayed as cyclic garbage until a full collection, which under thousands of
        # clients came seldom (~230,000 objects, +56 MB RSS over five runs of 5,000
        # clients). A task still answering keeps its own cycle.
        self.cycle = None  # type: ignore[assignment]

    def pause_reading_at_gate(self) -> None:
        # Not idle: its next request may already wait in the kernel, so no keep-alive
        # timeout may close it while it waits its turn.
        self._unset_keepalive_if_required()
        self.flow.pause_reading()

    def resume_reading_at_gate(self) -> None:
        self.flow.resume_reading()
        if self.cycle is None or self.cycle.response_complete:
            # Idle until its next request arrives, which cancels this timer.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def has_request_in_progress(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete


class NoDelayH11Protocol(_GatedReading, H11Protocol):
    pass


if HttpToolsProtocol is not None:

    class NoDelayHttpToolsProtocol(_GatedReading, HttpToolsProtocol):  # type: ignore[misc]
        admission: Admission | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.admission = self.app_state.get(ADMISSION_STATE_KEY)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and cycle.transport is self.transport:  # a new cycle
                cycle.transport = OneSendTransport(self.transport)  # type: ignore[assignment]

        def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
            """Start the request once it has a slot; until then it waits as a record."""
            admission, scope = self.admission, cast(Scope, cycle.scope)
            if admission is not None and held_back(scope):
                if admission.try_enter():
                    scope[ADMITTED_KEY] = True
                elif admission.enqueue(WaitingRequest(self, cycle, app)):
                    return
                else:
                    scope[ADMITTED_KEY] = False  # the line is full: refused at once
            super()._start_asgi_task(cycle, app)

        def start_admitted(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
            super()._start_asgi_task(cycle, app)

    class WaitingRequest:
        """A request held back at its connection (`service.server.admission.Waiter`)."""

        __slots__ = ("app", "arrived", "context", "cycle", "protocol")

        def __init__(
            self,
            protocol: NoDelayHttpToolsProtocol,
            cycle: RequestResponseCycle,
            app: ASGI3Application,
        ) -> None:
            self.protocol = protocol
            self.cycle = cycle
            self.app = app
            self.arrived = time.perf_counter()
            # Started later from another request's task or a timer: in this context.
            self.context = contextvars.copy_context()

        def gone(self) -> bool:
            return self.protocol.transport.is_closing()

        def admit(self, granted: bool) -> None:
            scope = cast(Scope, self.cycle.scope)
            scope[ADMITTED_KEY], scope[ARRIVED_KEY] = granted, self.arrived
            self.context.run(self.protocol.start_admitted, self.cycle, self.app)
