"""Admission: a bounded number of requests in progress, the rest wait oldest first with
their body unread, and refusals are cheap 503 problems with Retry-After."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import orjson
import pytest

from service.api.middleware import AdmissionMiddleware
from service.server.admission import Admission
from tests.service.api.util import assert_problem, png_bytes

Message = dict[str, Any]


class GatedApp:
    """An ASGI app whose requests finish only when the test says so, in any order."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release: dict[str, asyncio.Event] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        name = scope["path"]
        self.started.append(name)
        event = self.release.setdefault(name, asyncio.Event())
        await receive()  # the body is read only once admitted
        await event.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def finish(self, name: str) -> None:
        self.release.setdefault(name, asyncio.Event()).set()


async def call(app: Any, path: str, method: str = "POST") -> tuple[list[Message], list[str]]:
    """Run one request; returns what was sent and the log of receive() calls."""
    sent: list[Message] = []
    reads: list[str] = []

    async def receive() -> Message:
        reads.append(path)
        return {"type": "http.request", "body": b"image", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    await app(scope, receive, send)
    return sent, reads


def status_of(sent: list[Message]) -> int:
    return int(sent[0]["status"])


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_requests_beyond_the_limit_wait_their_turn_oldest_first():
    async def scenario() -> None:
        inner = GatedApp()
        gate = AdmissionMiddleware(inner, Admission(2, 10, 5))
        calls = [asyncio.create_task(call(gate, f"/r{i}")) for i in range(5)]
        await settle()
        assert inner.started == ["/r0", "/r1"] and gate.admission.active == 2
        inner.finish("/r1")
        await settle()
        assert inner.started == ["/r0", "/r1", "/r2"]
        inner.finish("/r0")
        inner.finish("/r2")
        await settle()
        assert inner.started == ["/r0", "/r1", "/r2", "/r3", "/r4"]
        for name in ("/r3", "/r4"):
            inner.finish(name)
        results = await asyncio.gather(*calls)
        assert [status_of(sent) for sent, _ in results] == [200] * 5
        assert gate.admission.active == 0

    asyncio.run(scenario())


def test_a_request_that_waits_too_long_gets_503_without_its_body_being_read():
    async def scenario() -> None:
        inner = GatedApp()
        gate = AdmissionMiddleware(inner, Admission(1, 10, 0.05))
        first = asyncio.create_task(call(gate, "/busy"))
        await settle()
        sent, reads = await call(gate, "/late")
        assert status_of(sent) == 503 and reads == []
        headers = dict(sent[0]["headers"])
        assert headers[b"retry-after"] == b"1"
        assert headers[b"content-type"] == b"application/problem+json"
        problem = orjson.loads(sent[1]["body"])
        assert problem["code"] == "overloaded" and problem["status"] == 503
        assert problem["instance"] == "/late" and "retry later" in problem["detail"]
        inner.finish("/busy")
        assert status_of((await first)[0]) == 200
        assert gate.admission.active == 0

    asyncio.run(scenario())


def test_beyond_the_waiting_room_the_refusal_is_immediate():
    async def scenario() -> None:
        inner = GatedApp()
        gate = AdmissionMiddleware(inner, Admission(1, 2, 5))
        busy = [asyncio.create_task(call(gate, f"/w{i}")) for i in range(3)]
        await settle()
        sent, reads = await asyncio.wait_for(call(gate, "/extra"), timeout=1)
        assert status_of(sent) == 503 and reads == []
        for i in range(3):
            inner.finish(f"/w{i}")
        assert [status_of(sent) for sent, _ in await asyncio.gather(*busy)] == [200] * 3

    asyncio.run(scenario())


def test_waiters_that_gave_up_do_not_take_slots_or_waiting_room():
    async def scenario() -> None:
        inner = GatedApp()
        gate = AdmissionMiddleware(inner, Admission(1, 2, 0.02))
        busy = asyncio.create_task(call(gate, "/busy"))
        await settle()
        for name in ("/a", "/b"):
            assert status_of((await call(gate, name))[0]) == 503
        gate.admission.timeout_s = 5
        waiting = asyncio.create_task(call(gate, "/c"))  # room again: the two left
        await settle()
        inner.finish("/busy")
        inner.finish("/c")
        assert status_of((await waiting)[0]) == 200
        await busy
        assert inner.started == ["/busy", "/c"] and gate.admission.active == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("path", "method"),
    [("/healthz", "GET"), ("/readyz", "GET"), ("/metrics", "GET"), ("/v1/classify", "OPTIONS")],
)
def test_probes_and_preflights_are_never_held_back(path: str, method: str):
    async def scenario() -> None:
        inner = GatedApp()
        gate = AdmissionMiddleware(inner, Admission(1, 1, 5))
        busy = [asyncio.create_task(call(gate, f"/busy{i}")) for i in range(2)]
        await settle()
        inner.finish(path)
        sent, _ = await asyncio.wait_for(call(gate, path, method), timeout=1)
        assert status_of(sent) == 200
        for i in range(2):
            inner.finish(f"/busy{i}")
        await asyncio.gather(*busy)

    asyncio.run(scenario())


def test_a_failing_request_gives_its_slot_back():
    async def scenario() -> None:
        async def broken(scope: Any, receive: Any, send: Any) -> None:
            raise RuntimeError("boom")

        gate = AdmissionMiddleware(broken, Admission(1, 1, 1))
        with pytest.raises(RuntimeError):
            await call(gate, "/x")
        assert gate.admission.active == 0

    asyncio.run(scenario())


def test_the_app_holds_inference_back_and_still_answers_probes(make_client, fake_repo):
    model = fake_repo.get("clf")
    entered, release = threading.Event(), threading.Event()
    original = model.infer

    async def held(inputs: Any, *, timeout_s: float | None = None, trusted: bool = False) -> Any:
        entered.set()
        while not release.is_set():
            await asyncio.sleep(0.005)
        return await original(inputs, timeout_s=timeout_s, trusted=trusted)

    model.infer = held
    client = make_client(max_active_requests=1, max_waiting_requests=1, admission_timeout_s=0.2)
    post = partial(
        client.post,
        "/v1/classify?model=clf",
        content=png_bytes(),
        headers={"Content-Type": "image/png"},
    )
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post)
        assert entered.wait(10)
        refused = post()
        assert client.get("/readyz").status_code == 200
        release.set()
        assert first.result(timeout=10).status_code == 200
    body = assert_problem(refused, 503, "overloaded")
    assert refused.headers["retry-after"] == "1"
    assert body["instance"] == "/v1/classify"
    assert post().status_code == 200


def test_a_cancelled_waiter_neither_keeps_a_slot_nor_blocks_the_next_request():
    async def scenario() -> None:
        inner = GatedApp()
        gate = AdmissionMiddleware(inner, Admission(1, 5, 5))
        busy = asyncio.create_task(call(gate, "/busy"))
        await settle()
        waiting = asyncio.create_task(call(gate, "/gone"))
        await settle()
        waiting.cancel()  # e.g. the server shutting down
        await settle()
        inner.finish("/busy")
        await busy
        assert gate.admission.active == 0
        inner.finish("/next")
        assert status_of((await asyncio.wait_for(call(gate, "/next"), timeout=1))[0]) == 200

        # Handed the slot and cancelled before it could run: the slot goes on, not lost.
        held = asyncio.create_task(call(gate, "/held"))
        await settle()
        late = asyncio.create_task(call(gate, "/late"))
        await settle()
        inner.finish("/held")
        await held  # hands its slot to /late ...
        late.cancel()  # ... which is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await late
        assert gate.admission.active == 0

    asyncio.run(scenario())
