"""Slow clients: connections that trickle their headers or body, and when they are cut."""

import asyncio
import time
from dataclasses import dataclass

from bench.scale.loadgen.client import Request, require_loopback


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
