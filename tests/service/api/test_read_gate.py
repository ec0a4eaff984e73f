"""The read gate on a real uvicorn server: beyond its limit a connection's request waits
unread in the kernel, is read in arrival order when a reading connection is answered or
closes, and is read anyway once it has waited the gate's longest wait."""

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from service.api.tcp_nodelay import READ_GATE_STATE_KEY
from service.server.read_gate import ReadGate
from tests.service.api.held_requests import Releases, open_sockets, send_path, served_releasing


class HeldApp:
    """Answers each request only when the test releases its path; logs what it read."""

    def __init__(self, gate: ReadGate) -> None:
        self.gate = gate
        self.read: list[str] = []
        self.releases = Releases()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"][READ_GATE_STATE_KEY] = self.gate
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()
        self.read.append(scope["path"])
        await self.releases.wait(scope["path"])
        await send_path(send, scope["path"])

    def finish(self, path: str) -> None:
        self.releases.finish(path)


@contextmanager
def served(app: HeldApp) -> Iterator[int]:
    with served_releasing(app, app.releases) as port:
        yield port


def request(path: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\n\r\nbody".encode()


def answer_of(client: socket.socket, path: str) -> bytes:
    answer = b""
    while not answer.endswith(path.encode()):
        chunk = client.recv(65536)
        assert chunk, answer
        answer += chunk
    return answer


def wait_until_read(app: HeldApp, count: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while len(app.read) < count:
        assert time.monotonic() < deadline, f"read only {app.read}"
        time.sleep(0.01)


@pytest.fixture
def clients() -> Iterator[list[socket.socket]]:
    yield from open_sockets()


def connect(port: int, clients: list[socket.socket]) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    clients.append(client)
    time.sleep(0.05)  # the server sees the connections in this order
    return client


def test_beyond_the_limit_requests_wait_unread_and_are_read_in_arrival_order(clients):
    app = HeldApp(ReadGate(limit=2, max_wait_s=60))
    with served(app) as port:
        first, second, third, fourth = (connect(port, clients) for _ in range(4))
        for client, path in zip(
            (first, second, third, fourth), ["/1", "/2", "/3", "/4"], strict=True
        ):
            client.sendall(request(path))
        wait_until_read(app, 2)
        time.sleep(0.2)
        assert app.read == ["/1", "/2"]  # /3 and /4 wait in the kernel
        assert app.gate.parked == 2

        app.finish("/1")
        assert answer_of(first, "/1").startswith(b"HTTP/1.1 200 OK")
        wait_until_read(app, 3)
        first.sendall(request("/1b"))  # answered: it now waits behind /4
        app.finish("/2")
        assert answer_of(second, "/2").startswith(b"HTTP/1.1 200 OK")
        wait_until_read(app, 4)
        for path, client in (("/3", third), ("/4", fourth)):
            app.finish(path)
            assert answer_of(client, path).startswith(b"HTTP/1.1 200 OK")
        wait_until_read(app, 5)
        app.finish("/1b")
        assert answer_of(first, "/1b").startswith(b"HTTP/1.1 200 OK")
    assert app.read == ["/1", "/2", "/3", "/4", "/1b"]


def test_a_closed_reading_connection_lets_the_next_one_read(clients):
    app = HeldApp(ReadGate(limit=1, max_wait_s=60))
    with served(app) as port:
        first, second = connect(port, clients), connect(port, clients)
        first.sendall(request("/first"))
        second.sendall(request("/second"))
        wait_until_read(app, 1)
        first.close()
        app.finish("/second")
        assert answer_of(second, "/second").startswith(b"HTTP/1.1 200 OK")
    assert app.read == ["/first", "/second"]


def test_a_connection_without_a_request_gives_its_turn_to_one_waiting(clients):
    app = HeldApp(ReadGate(limit=1, max_wait_s=60, idle_turn_s=0.3))
    with served(app) as port:
        idle, waiting = connect(port, clients), connect(port, clients)
        idle.sendall(b"POST /idle HTTP/1.1\r\nhost: t\r\n")  # half its headers, then nothing
        waiting.sendall(request("/waiting"))
        started = time.monotonic()
        wait_until_read(app, 1)
        assert app.read == ["/waiting"]
        assert 0.2 <= time.monotonic() - started < 5
        app.finish("/waiting")
        assert answer_of(waiting, "/waiting").startswith(b"HTTP/1.1 200 OK")
        idle.sendall(b"content-length: 4\r\n\r\nbody")  # its turn comes back
        wait_until_read(app, 2)
        app.finish("/idle")
        assert answer_of(idle, "/idle").startswith(b"HTTP/1.1 200 OK")


def test_a_connection_waiting_longer_than_the_longest_wait_is_read_over_the_limit(clients):
    app = HeldApp(ReadGate(limit=1, max_wait_s=0.3))
    with served(app) as port:
        first, second = connect(port, clients), connect(port, clients)
        first.sendall(request("/held"))
        second.sendall(request("/late"))
        started = time.monotonic()
        wait_until_read(app, 2)  # /held is never answered
        assert time.monotonic() - started >= 0.2
        app.finish("/late")
        assert answer_of(second, "/late").startswith(b"HTTP/1.1 200 OK")
