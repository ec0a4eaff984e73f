"""A sized response leaves in one send; streamed heads and 100 Continue are not held."""

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from service.api.head_with_body import OneSendTransport
from tests.service.api.uvicorn_thread import served_in_thread

STREAM_BODY = threading.Event()  # /stream sends its body only once a test sets this
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n"
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
TCPI_DATA_SEGS_IN = 152  # offset in struct tcp_info (linux/tcp.h, since Linux 4.6)


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_a_sized_head_waits_for_the_body_and_both_go_in_one_write():
    transport = RecordingTransport()
    cycle = OneSendTransport(transport)  # type: ignore[arg-type]
    cycle.write(HEAD)
    assert transport.writes == []
    cycle.write(b"hello")
    assert transport.writes == [HEAD + b"hello"]


def test_a_chunked_head_and_100_continue_go_at_once():
    transport = RecordingTransport()
    cycle = OneSendTransport(transport)  # type: ignore[arg-type]
    cycle.write(CONTINUE)
    cycle.write(CHUNKED_HEAD)
    assert transport.writes == [CONTINUE, CHUNKED_HEAD]
    cycle.write(b"5\r\nhello\r\n")
    assert transport.writes[-1] == b"5\r\nhello\r\n"


def test_only_the_first_write_after_continue_is_taken_for_a_head():
    transport = RecordingTransport()
    cycle = OneSendTransport(transport)  # type: ignore[arg-type]
    cycle.write(HEAD)
    cycle.write(b"a body that mentions\r\ncontent-length: 9")
    cycle.write(b"\r\ncontent-length: later bytes are body too")
    assert len(transport.writes) == 2


def test_close_sends_a_held_head_first_and_other_calls_reach_the_transport():
    transport = RecordingTransport()
    cycle = OneSendTransport(transport)  # type: ignore[arg-type]
    cycle.write(HEAD)
    cycle.close()
    assert transport.writes == [HEAD] and transport.closed
    assert cycle.get_extra_info("peername") == "info:peername"


async def sized_or_streamed(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A sized answer echoing the body; on /stream a chunked one whose body comes later."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.to_thread(STREAM_BODY.wait, 30)  # the head must not wait for this
        await send({"type": "http.response.body", "body": b"late"})
        return
    answer = b"echo:" + body
    headers = [(b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@contextmanager
def served() -> Iterator[int]:
    with served_in_thread(sized_or_streamed, lifespan="off") as port:
        yield port


def post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: t\r\ncontent-length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with served() as bound:
        yield bound


def data_segments_in(client: socket.socket) -> int:
    """Linux's tcpi_data_segs_in: the data segments this socket has received."""
    info = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, TCPI_DATA_SEGS_IN)[0])


def read_answer(client: socket.socket, ending: bytes) -> bytes:
    answer = b""
    while not answer.endswith(ending):
        chunk = client.recv(65536)
        assert chunk, answer
        answer += chunk
    return answer


def test_a_sized_response_is_one_segment_on_the_wire(port):
    # With TCP_NODELAY each send is its own segment: uvicorn alone sends two.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        for attempt in range(5):
            before = data_segments_in(client)
            client.sendall(post("/echo", f"try {attempt}".encode()))
            answer = read_answer(client, f"echo:try {attempt}".encode())
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
            assert data_segments_in(client) - before == 1


def test_pipelined_requests_are_answered_in_order(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(post("/echo", b"one") + post("/echo", b"two"))
        received = read_answer(client, b"echo:two")
    assert received.index(b"echo:one") < received.index(b"echo:two")


def test_100_continue_is_sent_before_the_body_is(port):
    body = b"after"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        head = (
            f"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: {len(body)}\r\n"
            "expect: 100-continue\r\n\r\n"
        )
        client.sendall(head.encode())
        assert client.recv(65536) == CONTINUE
        client.sendall(body)
        answer = read_answer(client, b"echo:after")
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_streamed_head_is_not_held_for_its_body(port):
    STREAM_BODY.clear()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(post("/stream", b""))
            # The body is held until the head has arrived: a held head never comes (the
            # recv times out), on a machine of any speed.
            head = client.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"transfer-encoding: chunked" in head and b"late" not in head
            STREAM_BODY.set()
            assert b"late" in read_answer(client, b"0\r\n\r\n")
    finally:
        STREAM_BODY.set()
