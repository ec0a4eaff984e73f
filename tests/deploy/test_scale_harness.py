"""The fault harness itself (bench/scale): the load client counts every request it sends,
whatever became of it, stays on loopback and within its bounds; the table judges rows."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bench.scale import loadgen
from bench.scale.loadgen import Records, Request, run_load, run_slow_clients
from bench.scale.report import Row, count, table, versions_by_replica

Handler = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


def reply(status: int, body: bytes = b"", *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def answer(path: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """The test server's routes; False closes the connection without an answer."""
    if path.startswith(b"/ok"):
        writer.write(
            reply(200, b'{"model":"m","version":2,"label":"a"}', "X-Kerasserve-Replica: r1")
        )
    elif path.startswith(b"/wrong"):
        writer.write(reply(200, b'{"model":"m","version":2,"error":"?"}'))
    elif path.startswith(b"/shed"):
        writer.write(reply(503, b"{}", "Retry-After: 1"))
    elif path.startswith(b"/bare503"):
        writer.write(reply(503, b"{}"))
    elif path.startswith(b"/slow"):
        await asyncio.sleep(30)  # far past any client timeout a test sets
        writer.write(reply(200, b'{"label":"a"}'))
    else:
        return False
    return True


@asynccontextmanager
async def server(handler: Handler = answer) -> AsyncIterator[int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length")), 0
                )  # fmt: skip
                await reader.readexactly(length)
                if not await handler(head.split(b" ")[1], reader, writer):
                    writer.transport.abort()
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()


def load(path: str, **options: Any) -> Records:
    async def scenario() -> Records:
        async with server() as port:
            request = Request("127.0.0.1", port, path, b"png", expect=b'"label":"')
            defaults: dict[str, Any] = {"connections": 4, "duration_s": 0.5, "max_requests": 40}
            return await run_load(request, **{**defaults, **options})

    return asyncio.run(scenario())


def test_every_answered_request_is_counted_with_its_replica_and_version():
    records = load("/ok")
    assert len(records) == 40  # the count bound, before the time bound
    counts = count(records)
    assert (counts.requests, counts.ok, counts.failed, counts.shed) == (40, 40, 0, 0)
    assert versions_by_replica(records, 0.0).keys() == {"r1"}
    assert set(versions_by_replica(records, 0.0)["r1"]) == {2}


def test_refusals_with_retry_after_are_shed_the_rest_failed():
    shed, bare = count(load("/shed")), count(load("/bare503"))
    assert (shed.shed, shed.failed) == (40, 0)
    assert (bare.shed, bare.failed) == (0, 40)
    assert count(load("/wrong")).outcomes == {"wrong_answer": 40}


def test_requests_that_get_no_answer_are_counted_not_lost():
    closed = count(load("/close"))
    assert closed.requests == 40 and closed.outcomes == {"no_answer": 40}
    timed_out = count(load("/slow", connections=2, timeout_s=0.2, max_requests=4))
    assert timed_out.outcomes == {"timeout": 4}


def test_a_refused_connection_counts_as_a_failed_request():
    async def scenario() -> Records:
        async with server() as port:
            pass  # closed again: nothing listens on the port now
        request = Request("127.0.0.1", port, "/ok")
        return await run_load(request, connections=2, duration_s=0.3, max_requests=1000)

    counts = count(asyncio.run(scenario()))
    assert counts.outcomes.keys() == {"connect_failed"} and 0 < counts.requests < 100


def test_the_time_bound_stops_an_endless_count():
    records = load("/ok", duration_s=0.3, max_requests=10**9)
    assert 0 < len(records) < 10**9 and max(records.started) < 0.4


def test_only_loopback_is_accepted():
    assert loadgen.require_loopback("localhost") == "localhost"
    with pytest.raises(ValueError, match="not a loopback"):
        loadgen.require_loopback("192.0.2.1")
    with pytest.raises(ValueError, match="not a loopback"):
        asyncio.run(
            run_load(Request("192.0.2.1", 80, "/"), connections=1, duration_s=1, max_requests=1)
        )


def test_records_survive_json():
    records = load("/ok", max_requests=5)
    again = Records.from_json(json.loads(json.dumps(records.to_json())))
    assert count(again).outcomes == count(records).outcomes and again.replicas == ["r1"]
    assert list(again.version) == list(records.version)


def test_slow_clients_reconnect_until_the_run_ends_and_record_the_cut():
    async def scenario() -> list[Any]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(0.2)  # the server's patience with an incomplete request
            writer.write(reply(408))
            await writer.drain()
            writer.close()

        listener = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            request = Request("127.0.0.1", port, "/v1/classify", b"png-bytes")
            return await run_slow_clients(request, count=4, duration_s=2.0, interval_s=0.05)
        finally:
            listener.close()

    results = asyncio.run(scenario())
    assert {r.mode for r in results} == {"headers", "body"}
    cut = [r for r in results if r.cut]
    assert len(cut) >= 8  # each client was cut and came back at least twice (~9 times)
    assert all(r.status == 408 and 0.15 < r.open_s < 0.5 for r in cut)


def test_the_table_says_which_rows_failed_and_why():
    counts = count(load("/ok", max_requests=3))
    good, bad = Row("fine", counts, "all well"), Row("broken", counts, "oops")
    bad.require(False, "it broke")
    good.require(True, "never shown")
    text = table([good, bad])
    assert "| fine | 3 | 3 | 0 | 0 |" in text and text.count("| pass |") == 1
    assert "| FAIL |" in text and "FAILED: it broke" in text and "never shown" not in text
    assert not bad.passed and good.passed


def test_throughput_counts_answers_completed_while_the_load_was_on():
    records = Records()
    for index in range(100):  # one request every 0.1 s for 9.9 s, each answered in 0.05 s
        records.add(index / 10, 0.05, 200)
    assert count(records).ok_per_s == pytest.approx(99 / 9.9, rel=0.01)
    # A closed loop at 2,000 connections: the last answers arrive seconds after the last
    # send. They are not work done in the window and do not stretch it either.
    records.add(9.9, 4.0, 200)
    assert count(records).ok_per_s == pytest.approx(99 / 9.9, rel=0.01)
    assert count(records).ok == 101
