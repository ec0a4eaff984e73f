"""Requests a test answers when it chooses, on a real uvicorn server in a thread."""

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.service.api.uvicorn_thread import served_in_thread


class Releases:
    """One event per path, set from the test's thread when that request may finish."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.events: dict[str, asyncio.Event] = {}

    async def wait(self, path: str) -> None:
        self.loop = asyncio.get_running_loop()
        await self.events.setdefault(path, asyncio.Event()).wait()

    def finish(self, path: str) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(lambda: self.events.setdefault(path, asyncio.Event()).set())


async def send_path(send: Any, path: str) -> None:
    """Answer 200 with the request's path as the body."""
    body = path.encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def served_releasing(app: Any, releases: Releases) -> Iterator[int]:
    """Serve ``app``; held requests are all released before the server stops."""
    with served_in_thread(app) as port:
        try:
            yield port
        finally:
            for path in list(releases.events):
                releases.finish(path)


def open_sockets() -> Iterator[list[socket.socket]]:
    """For a fixture: the clients a test opens, closed after it."""
    opened: list[socket.socket] = []
    yield opened
    for client in opened:
        client.close()
