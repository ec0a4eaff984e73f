"""A bounded HTTP/1.1 load client for the fault tests: loopback only, every request counted.

`run_load` keeps ``connections`` keep-alive connections busy with one fixed request each
(closed loop) until ``duration_s`` passes, ``max_requests`` have been sent or ``stop`` is
set, whichever comes first. Every attempt is recorded, including those that never got
an answer: a refused or failed connect, a connection closed or reset before the reply,
a reply slower than ``timeout_s``. `run_slow_clients` opens clients that trickle their
headers or body and records when (and how) the server cut them off.

Only loopback addresses are accepted: these tools are for one machine's own stack.

    python -m bench.scale.loadgen --port 8080 --path '/v1/classify?model=fashion_mlp' \
        --body bench/data/fashion.png --connections 64 --duration 10
"""

import argparse
import asyncio
import ipaddress
import json
import re
import signal
import socket
import sys
import time
from array import array
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

# Negative "statuses" for attempts that got no HTTP answer.
CONNECT_FAILED = -1  # refused, unreachable, or no connection within the timeout
NO_ANSWER = -2  # connection closed or reset after the request was sent
TIMED_OUT = -3  # no complete answer within timeout_s
BAD_ANSWER = -4  # something that is not an HTTP/1.1 response
WRONG_ANSWER = -5  # a 200 whose body lacks the expected text
ERROR_NAMES = {
    CONNECT_FAILED: "connect_failed",
    NO_ANSWER: "no_answer",
    TIMED_OUT: "timeout",
    BAD_ANSWER: "bad_answer",
    WRONG_ANSWER: "wrong_answer",
}
REPLICA_HEADER = b"x-kerasserve-replica"
_VERSION = re.compile(rb'"version":\s*(\d+)')
T = TypeVar("T")


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


@dataclass
class Records:
    """One entry per attempt, column by column (compact for a few hundred thousand)."""

    started: "array[float]" = field(default_factory=lambda: array("d"))  # s since the start
    latency: "array[float]" = field(default_factory=lambda: array("d"))  # s
    status: "array[int]" = field(default_factory=lambda: array("h"))  # HTTP status or < 0
    retry_after: "array[int]" = field(default_factory=lambda: array("b"))  # header present
    replica: "array[int]" = field(default_factory=lambda: array("b"))  # index in replicas, -1
    version: "array[int]" = field(default_factory=lambda: array("i"))  # model version, 0
    replicas: list[str] = field(default_factory=list)
    began_at: float = 0.0  # wall clock (time.time()) when the run began

    def add(
        self,
        started: float,
        latency: float,
        status: int,
        retry_after: bool = False,
        replica: str | None = None,
        version: int = 0,
    ) -> None:
        self.started.append(started)
        self.latency.append(latency)
        self.status.append(status)
        self.retry_after.append(1 if retry_after else 0)
        self.replica.append(self._replica_index(replica))
        self.version.append(version)

    def _replica_index(self, name: str | None) -> int:
        if name is None:
            return -1
        try:
            return self.replicas.index(name)
        except ValueError:
            self.replicas.append(name)
            return len(self.replicas) - 1

    def __len__(self) -> int:
        return len(self.status)

    def to_json(self) -> dict[str, Any]:
        return {
            "began_at": self.began_at,
            "replicas": self.replicas,
            "started": [round(v, 4) for v in self.started],
            "latency": [round(v, 5) for v in self.latency],
            "status": list(self.status),
            "retry_after": list(self.retry_after),
            "replica": list(self.replica),
            "version": list(self.version),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Records":
        records = cls(replicas=list(data["replicas"]), began_at=float(data["began_at"]))
        records.started.extend(data["started"])
        records.latency.extend(data["latency"])
        records.status.extend(data["status"])
        records.retry_after.extend(data["retry_after"])
        records.replica.extend(data["replica"])
        records.version.extend(data["version"])
        return records


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


@dataclass(frozen=True)
class SlowResult:
    """One slow connection: how long it stayed open and whether the server cut it off."""

    mode: str  # "headers" or "body": what was trickled
    open_s: float
    cut: bool  # False: still open when the run ended
    status: int | None  # what the server answered before closing, if anything


async def _slow_attempt(
    request: Request, mode: str, interval_s: float, deadline: float
) -> SlowResult:
    """One connection that sends a byte per ``interval_s`` until the server gives up on it."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(request.host, request.port)
    except OSError:
        return SlowResult(mode, 0.0, True, None)
    head = request.encode()[: -len(request.body)] if request.body else request.encode()
    upfront, trickle = (head[:16], head[16:]) if mode == "headers" else (head, request.body)
    status: int | None = None
    try:
        writer.write(upfront)
        for index in range(len(trickle) + 1):
            if time.monotonic() >= deadline:
                return SlowResult(mode, time.monotonic() - started, False, None)
            try:
                line = await asyncio.wait_for(reader.readline(), timeout=interval_s)
            except TimeoutError:
                writer.write(trickle[index : index + 1])
                continue
            if line.startswith(b"HTTP/1."):
                status = int(line.split(b" ")[1])
            await asyncio.wait_for(reader.read(), timeout=5)  # the rest, up to the close
            break
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        pass
    finally:
        writer.transport.abort()
    return SlowResult(mode, time.monotonic() - started, True, status)


async def _slow_client(
    request: Request, mode: str, interval_s: float, deadline: float, attempts: int
) -> list[SlowResult]:
    """Trickle, get cut off, reconnect and trickle again, until the deadline."""
    results: list[SlowResult] = []
    while time.monotonic() < deadline and len(results) < attempts:
        results.append(await _slow_attempt(request, mode, interval_s, deadline))
        if results[-1].open_s < 0.05:
            await asyncio.sleep(0.05)  # refused at once: do not spin
    return results


async def run_slow_clients(
    request: Request,
    *,
    count: int,
    duration_s: float,
    interval_s: float = 1.0,
    max_attempts: int = 1000,
) -> list[SlowResult]:
    """``count`` clients for ``duration_s``, half trickling headers and half a body."""
    require_loopback(request.host)
    deadline = time.monotonic() + duration_s
    clients = [
        _slow_client(
            request, "headers" if i % 2 == 0 else "body", interval_s, deadline, max_attempts
        )
        for i in range(count)
    ]
    return [result for results in await asyncio.gather(*clients) for result in results]


def summarize(records: Records) -> dict[str, Any]:
    """Counts by outcome, latency of the 200s and the 200s per second."""
    statuses = Counter(ERROR_NAMES.get(s, str(s)) for s in records.status)
    ok = sorted(lat for lat, s in zip(records.latency, records.status, strict=True) if s == 200)
    span = max(records.started, default=0.0) + (max(records.latency, default=0.0) if ok else 0.0)
    return {
        "requests": len(records),
        "outcomes": dict(sorted(statuses.items())),
        "ok_per_s": round(len(ok) / span, 1) if span > 0 else 0.0,
        "p50_ms": round(percentile(ok, 0.50) * 1000, 2),
        "p99_ms": round(percentile(ok, 0.99) * 1000, 2),
        "max_ms": round(max(records.latency, default=0.0) * 1000, 2),
    }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of already sorted values; 0 for none."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[rank]


def run_fast(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it is installed (about twice the requests per CPU s)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/classify?model=fashion_mlp")
    parser.add_argument("--body", type=Path, help="file sent as the request body")
    parser.add_argument("--method", default="POST")
    parser.add_argument("--content-type", default="image/png")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds, at most")
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--expect", default="", help="text every 200 answer must contain")
    parser.add_argument("--slow", type=int, default=0, help="run this many slow clients instead")
    parser.add_argument("--out", type=Path, help="write every record here as JSON")
    return parser.parse_args(argv)


def _request(args: argparse.Namespace) -> Request:
    body = args.body.read_bytes() if args.body else b""
    expect = args.expect.encode()
    return Request(args.host, args.port, args.path, body, args.method, args.content_type, expect)


async def _main(args: argparse.Namespace) -> Records:
    request = _request(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)  # stop early, still write the records
    return await run_load(
        request,
        connections=args.connections,
        duration_s=args.duration,
        max_requests=args.max_requests,
        timeout_s=args.timeout,
        stop=stop,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.slow:
        clients = run_slow_clients(_request(args), count=args.slow, duration_s=args.duration)
        results = [vars(result) for result in asyncio.run(clients)]
        if args.out:
            args.out.write_text(json.dumps(results))
        print(json.dumps({"slow_clients": len(results)}))
        return 0
    records = run_fast(_main(args))
    if args.out:
        args.out.write_text(json.dumps(records.to_json()))
    print(json.dumps(summarize(records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
