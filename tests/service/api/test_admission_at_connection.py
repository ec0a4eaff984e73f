"""Admission at the connection, on a real uvicorn server with our HTTP protocol: a request
read while every slot is taken waits as a record in the line (no task runs for it), is
started oldest first with the slot already its own, is refused with a 503 problem and
Retry-After when it waits too long or the line is full (its body never read), and
leaves the line if its client goes away, freed at once."""

import gc
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from service.api.middleware import AdmissionMiddleware, RequestContextMiddleware
from service.api.tcp_nodelay import ADMISSION_STATE_KEY
from service.metrics import ServiceMetrics
from service.server.access_log import AccessLog
from service.server.admission import ADMITTED_KEY, ARRIVED_KEY, Admission
from tests.service.api.held_requests import Releases, open_sockets, send_path, served_releasing


class HeldApp:
    """Answers a request only when the test releases its path; logs what it started."""

    def __init__(self) -> None:
        self.started: list[tuple[str, Any, Any]] = []  # path, admitted mark, arrival
        self.releases = Releases()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.started.append((scope["path"], scope.get(ADMITTED_KEY), scope.get(ARRIVED_KEY)))
        await receive()
        await self.releases.wait(scope["path"])
        await send_path(send, scope["path"])

    def finish(self, path: str) -> None:
        self.releases.finish(path)


class KeptLines(AccessLog):
    """The access log's lines, kept for the test."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[Mapping[str, Any]] = []

    def __call__(self, fields: Mapping[str, Any]) -> None:
        self.lines.append(fields)


class Service:
    """The service's own middleware around `HeldApp`, with the admission in its state."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.held = HeldApp()
        self.access_log = KeptLines()
        self.app = RequestContextMiddleware(
            AdmissionMiddleware(self.held, admission), ServiceMetrics(), self.access_log
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"][ADMISSION_STATE_KEY] = self.admission
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.app(scope, receive, send)


@contextmanager
def served(service: Service) -> Iterator[int]:
    with served_releasing(service, service.held.releases) as port:
        yield port


@pytest.fixture
def clients() -> Iterator[list[socket.socket]]:
    yield from open_sockets()


def send_request(port: int, clients: list[socket.socket], path: str) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    clients.append(client)
    client.sendall(f"POST {path} HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\n\r\nbody".encode())
    time.sleep(0.05)  # the server reads the requests in this order
    return client


def answer_of(client: socket.socket) -> tuple[bytes, bytes]:
    """The head and body of one response with a content-length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = int(lengths[0].split(b":")[1])
    while len(body) < length:
        body += client.recv(65536)
    return head, body


def wait_for(condition: Any, what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_beyond_the_slots_requests_wait_as_records_and_start_oldest_first(clients):
    service = Service(Admission(max_active=1, max_waiting=10, timeout_s=30))
    held = service.held
    with served(service) as port:
        first = send_request(port, clients, "/1")
        second = send_request(port, clients, "/2")
        third = send_request(port, clients, "/3")
        wait_for(lambda: service.admission.waiting == 2, "two requests in line")
        time.sleep(0.1)
        assert [path for path, _, _ in held.started] == ["/1"]  # no task ran for /2, /3
        assert service.admission.active == 1

        held.finish("/1")
        assert answer_of(first)[1] == b"/1"
        wait_for(lambda: len(held.started) == 2, "/2 started")
        held.finish("/2")
        held.finish("/3")
        assert answer_of(second)[1] == b"/2"
        assert answer_of(third)[1] == b"/3"
        wait_for(lambda: service.admission.active == 0, "every slot given back")
    assert [path for path, _, _ in held.started] == ["/1", "/2", "/3"]
    # Admitted by the connection, not by the middleware's own wait; the wait is timed.
    assert all(mark is True for _, mark, _ in held.started)
    assert held.started[0][2] is None and held.started[1][2] is not None
    assert service.admission.waiting == 0


def test_a_request_that_waits_too_long_is_refused_with_its_body_unread(clients):
    service = Service(Admission(max_active=1, max_waiting=10, timeout_s=0.2))
    with served(service) as port:
        busy = send_request(port, clients, "/busy")
        started = time.monotonic()
        late = send_request(port, clients, "/late")
        head, body = answer_of(late)
        waited = time.monotonic() - started
        service.held.finish("/busy")
        assert answer_of(busy)[1] == b"/busy"
    assert head.startswith(b"HTTP/1.1 503")
    assert b"retry-after: 1" in head.lower()
    problem = orjson.loads(body)
    assert problem["status"] == 503 and problem["instance"] == "/late"
    assert "busy" in problem["detail"]
    assert 0.15 <= waited < 5
    assert [path for path, _, _ in service.held.started] == ["/busy"]
    refusal = next(line for line in service.access_log.lines if line["path"] == "/late")
    assert refusal["status"] == 503 and refusal["latency_ms"] >= 150  # the wait counts


def test_a_full_line_refuses_at_once(clients):
    service = Service(Admission(max_active=1, max_waiting=1, timeout_s=30))
    with served(service) as port:
        busy = send_request(port, clients, "/busy")
        waiting = send_request(port, clients, "/waiting")
        started = time.monotonic()
        head, _ = answer_of(send_request(port, clients, "/refused"))
        assert head.startswith(b"HTTP/1.1 503") and time.monotonic() - started < 2
        service.held.finish("/busy")
        service.held.finish("/waiting")
        assert answer_of(busy)[1] == b"/busy"
        assert answer_of(waiting)[1] == b"/waiting"
    assert [path for path, _, _ in service.held.started] == ["/busy", "/waiting"]


def test_a_client_that_leaves_the_line_takes_no_slot(clients):
    service = Service(Admission(max_active=1, max_waiting=10, timeout_s=30))
    with served(service) as port:
        busy = send_request(port, clients, "/busy")
        gone = send_request(port, clients, "/gone")
        after = send_request(port, clients, "/after")
        wait_for(lambda: service.admission.waiting == 2, "two requests in line")
        gone.close()
        time.sleep(0.1)
        service.held.finish("/busy")
        service.held.finish("/after")
        assert answer_of(busy)[1] == b"/busy"
        assert answer_of(after)[1] == b"/after"
        wait_for(lambda: service.admission.active == 0, "every slot given back")
    assert [path for path, _, _ in service.held.started] == ["/busy", "/after"]


def test_probes_are_answered_while_every_slot_is_taken(clients):
    service = Service(Admission(max_active=1, max_waiting=10, timeout_s=30))
    with served(service) as port:
        busy = send_request(port, clients, "/busy")
        probe = socket.create_connection(("127.0.0.1", port), timeout=10)
        clients.append(probe)
        probe.sendall(b"GET /readyz HTTP/1.1\r\nhost: t\r\n\r\n")
        wait_for(lambda: len(service.held.started) == 2, "the probe reached the app")
        service.held.finish("/readyz")
        assert answer_of(probe)[1] == b"/readyz"
        service.held.finish("/busy")
        assert answer_of(busy)[1] == b"/busy"
    assert service.held.started[1][1] is None  # never held back, never marked


def live_cycles() -> int:
    return sum(isinstance(o, RequestResponseCycle) for o in gc.get_objects())


def test_clients_that_leave_the_line_are_freed_at_once(clients):
    """A request that never started still holds its connection (uvicorn unbinds a
    cycle's callback to its protocol only when the request ends), and the connection
    holds it: when its client leaves, both must be freed at once, not left to a full
    collection, which under thousands of clients came seldom (memory grew run after
    run by the requests their clients had given up on)."""
    service = Service(Admission(max_active=1, max_waiting=100, timeout_s=1.5))
    gc.collect()
    gc.disable()  # what is not freed at once stays, for the test to count
    try:
        with served(service) as port:
            busy = send_request(port, clients, "/busy")
            before = live_cycles()
            leaving = [send_request(port, clients, f"/gone-{n}") for n in range(10)]
            wait_for(lambda: service.admission.waiting == 10, "ten requests in line")
            for client in leaving:
                client.close()
            # Past the line's timeout, the records of the clients that left are dropped.
            wait_for(lambda: service.admission.waiting == 0, "the line emptied", 5)
            assert live_cycles() - before == 0
            service.held.finish("/busy")
            assert answer_of(busy)[1] == b"/busy"
    finally:
        gc.enable()
    assert [path for path, _, _ in service.held.started] == ["/busy"]
