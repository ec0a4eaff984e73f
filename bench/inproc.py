"""The in-app cost of one classify request, without sockets: kerasserve against the ceiling.

Both ASGI apps (kerasserve's, with its lifespan, middleware, metrics and access log,
and the empty FastAPI endpoint of `bench/apps/empty_fastapi.py`) are called directly
with the same PNG body, in alternating rounds, and the median microseconds per request
of each are printed. What the HTTP server and the client cost is left out, so the
difference is exactly the work our code adds. To compare two revisions, run it from
each checkout on the same models.

    python -m bench.inproc --models-dir models --model fashion_mlp
"""

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message

ROOT = Path(__file__).resolve().parent.parent
BODY = ROOT / "bench" / "data" / "fashion.png"


def _scope(path: str, query: bytes, body: bytes, state: Mapping[str, Any]) -> dict[str, Any]:
    """What uvicorn hands an app for one POST of a PNG."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"image/png"),
            (b"content-length", str(len(body)).encode()),
        ],
        "state": dict(state),
    }


async def per_request_us(
    app: ASGIApp, path: str, query: bytes, body: bytes, state: Mapping[str, Any], requests: int
) -> float:
    """Mean microseconds per request over `requests` calls; every answer must be a 200."""
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(requests):
        await app(_scope(path, query, body, state), receive, send)
    elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"{path} answered {sorted(set(statuses))}, not only 200")
    return elapsed / requests * 1e6


async def compare(models_dir: Path, model: str, rounds: int, requests: int) -> str:
    sys.path.insert(0, str(ROOT / "bench" / "apps"))
    import empty_fastapi

    from service.config import Settings
    from service.main import create_app

    body = BODY.read_bytes()
    query = f"model={model}".encode()
    app = create_app(Settings(models_dir=models_dir, poll_interval_s=0))
    async with app.router.lifespan_context(app) as lifespan_state:
        state = lifespan_state or {}
        ceiling, ours = [], []
        await per_request_us(app, "/v1/classify", query, body, state, requests)  # warm up
        for _ in range(rounds):
            ceiling.append(
                await per_request_us(empty_fastapi.app, "/classify", b"", body, {}, requests)
            )
            ours.append(await per_request_us(app, "/v1/classify", query, body, state, requests))
    empty_us, ours_us = statistics.median(ceiling), statistics.median(ours)
    return (
        f"in-app us per request, median of {rounds} rounds of {requests}: "
        f"empty FastAPI {empty_us:.1f}, kerasserve {ours_us:.1f} "
        f"({ours_us - empty_us:.1f} more, {ours_us / empty_us:.2f}x)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="fashion_mlp")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args(argv)
    print(asyncio.run(compare(args.models_dir, args.model, args.rounds, args.requests)))


if __name__ == "__main__":
    main()
