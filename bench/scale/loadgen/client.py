"""The closed loop: ``connections`` keep-alive connections, one fixed request each."""

import asyncio
import ipaddress
import re
import socket
import time
from dataclasses import dataclass

from bench.scale.loadgen.records import (
    BAD_ANSWER,
    CONNECT_FAILED,
    NO_ANSWER,
    TIMED_OUT,
    WRONG_ANSWER,
    Records,
)

REPLICA_HEADER = b"x-kerasserve-replica"
_VERSION = re.compile(rb'"version":\s*(\d+)')


def require_loopback(host: str) -> str:
    """``host`` if every address it names is a loopback address; ValueError otherwise."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise ValueError(f"{host!r} is not a loopback address ({sorted(addresses)})")
    return host


@dataclass(frozen=True)
class Request:
    """The one request every connection sends, again and again."""

    host: str
    port: int
    path: str
    body: bytes = b""
    method: str = "POST"
    content_type: str = "image/png"
    expect: bytes = b""  # a 200 must contain this, else it counts as WRONG_ANSWER

    def encode(self) -> bytes:
        head = [f"{self.method} {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.body or self.method == "POST":
            head += [f"Content-Type: {self.content_type}", f"Content-Length: {len(self.body)}"]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body


class _Budget:
    """Shared stop conditions of one run: time, count and an outside stop event."""

    def __init__(self, duration_s: float, max_requests: int, stop: asyncio.Event) -> None:
        self.deadline = time.monotonic() + duration_s
        self.left = max_requests
        self.stop = stop

    def take(self) -> bool:
        if self.left <= 0 or self.stop.is_set() or time.monotonic() >= self.deadline:
            return False
        self.left -= 1
        return True


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return int(parts[1]), headers, body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(chunks)
        chunks.append((await reader.readexactly(size + 2))[:-2])


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.transport.abort()


async def _connection(
    request: Request, payload: bytes, budget: _Budget, records: Records, t0: float, timeout_s: float
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while budget.take():
        started = time.monotonic()
        if writer is None:
            try:
                async with asyncio.timeout(timeout_s):
                    reader, writer = await asyncio.open_connection(request.host, request.port)
            except (OSError, TimeoutError):
                records.add(started - t0, time.monotonic() - started, CONNECT_FAILED)
                await asyncio.sleep(0.05)  # a refused connect returns at once: do not spin
                continue
        assert reader is not None
        try:
            async with asyncio.timeout(timeout_s):
                writer.write(payload)
                status, headers, body = await _read_response(reader)
        except TimeoutError:
            outcome = TIMED_OUT
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            outcome = NO_ANSWER
        except ValueError:
            outcome = BAD_ANSWER
        else:
            match = _VERSION.search(body, 0, 200) if status == 200 else None
            replica = headers.get(REPLICA_HEADER)
            if status == 200 and request.expect not in body:
                status = WRONG_ANSWER
            records.add(
                started - t0,
                time.monotonic() - started,
                status,
                retry_after=b"retry-after" in headers,
                replica=replica.decode("latin-1") if replica else None,
                version=int(match.group(1)) if match else 0,
            )
            if headers.get(b"connection", b"").lower() == b"close":
                _close(writer)
                writer = None
            continue
        records.add(started - t0, time.monotonic() - started, outcome)
        _close(writer)
        writer = None
    _close(writer)


async def run_load(
    request: Request,
    *,
    connections: int,
    duration_s: float,
    max_requests: int,
    timeout_s: float = 10.0,
    stop: asyncio.Event | None = None,
) -> Records:
    """Closed-loop load until the time, the count or ``stop`` runs out; every attempt kept."""
    require_loopback(request.host)
    if duration_s <= 0 or max_requests <= 0 or connections <= 0:
        raise ValueError("connections, duration_s and max_requests must be positive")
    records = Records(began_at=time.time())
    budget = _Budget(duration_s, max_requests, stop or asyncio.Event())
    payload, t0 = request.encode(), time.monotonic()
    workers = [
        _connection(request, payload, budget, records, t0, timeout_s) for _ in range(connections)
    ]
    await asyncio.gather(*workers)
    return records
