"""uvicorn's HTTP protocols, plus TCP_NODELAY and the process's read gate on every connection.

uvicorn 0.54 serving from a shared, pre-bound socket (its multi-worker mode) leaves
Nagle's algorithm on: a response written in two sends waits for the client's delayed
ACK, about 40 ms per response (uvicorn issue #3149). Setting the option ourselves makes
one and several workers behave alike. Each connection also reads through the
`ReadGate` the app's lifespan put in its state (`service.server.read_gate`): beyond its
limit, a connection's next request waits unread in the kernel. Named by import string
in the uvicorn config ("service.api.tcp_nodelay:NoDelayHttpToolsProtocol"), so spawned
workers can resolve it.
"""

import asyncio
import socket
from typing import TYPE_CHECKING

from uvicorn.protocols.http.h11_impl import H11Protocol

from service.api.head_with_body import OneSendTransport
from service.server.read_gate import ReadGate

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional; h11 is always there
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

READ_GATE_STATE_KEY = "read_gate"  # in the lifespan state (`LifespanState`)


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
        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and cycle.transport is self.transport:  # a new cycle
                cycle.transport = OneSendTransport(self.transport)  # type: ignore[assignment]
