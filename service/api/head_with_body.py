"""A response's head and body leave in one send.

uvicorn writes a response in two calls: the status line and headers, then the body.
With TCP_NODELAY each call is its own system call and its own packet, and on loopback
the sender's call also delivers the packet and wakes the reader, so a small answer
costs two of each. The cycle's transport here holds a head that declares its
``content-length`` until the first body bytes, and sends both at once. Streamed
(chunked) heads and ``100 Continue`` go out at once, as before.
"""

import asyncio
from typing import Any

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SIZED = b"\r\ncontent-length: "


class OneSendTransport:
    """One request-response cycle's view of its connection's transport."""

    __slots__ = ("_head", "_heads_seen", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._heads_seen = False

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif not self._heads_seen and data != _CONTINUE:
            self._heads_seen = True  # the first other write of a cycle is its head
            if _SIZED in data:
                self._head = data
                return
        self._transport.write(data)

    def close(self) -> None:
        """Send a held head first: uvicorn closes after a head on some errors."""
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
