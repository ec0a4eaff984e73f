"""uvicorn's HTTP protocols, plus TCP_NODELAY on every accepted connection.

uvicorn 0.54 serving from a shared, pre-bound socket (its multi-worker mode) leaves
Nagle's algorithm on: a response written in two sends waits for the client's delayed
ACK, about 40 ms per response (uvicorn issue #3149). Setting the option ourselves makes
one and several workers behave alike. Named by import string in the uvicorn config
("service.api.tcp_nodelay:NoDelayHttpToolsProtocol"), so spawned workers can resolve it.
"""

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

from service.api.head_with_body import OneSendTransport

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional; h11 is always there
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


if HttpToolsProtocol is not None:

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            set_nodelay(transport)
            super().connection_made(transport)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and cycle.transport is self.transport:  # a new cycle
                cycle.transport = OneSendTransport(self.transport)  # type: ignore[assignment]
