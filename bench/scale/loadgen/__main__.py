"""A bounded HTTP/1.1 load client for the fault tests: loopback only, every request counted.

Its command line: closed-loop load (or slow clients) on one loopback port, every record
written as JSON with ``--out`` and a summary printed.

    python -m bench.scale.loadgen --port 8080 --path '/v1/classify?model=fashion_mlp' \\
        --body bench/data/fashion.png --connections 64 --duration 10
    python -m bench.scale.loadgen --grpc --port 8500 --body bench/data/fashion.png
"""

import argparse
import asyncio
import json
import resource
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bench.scale.loadgen.client import Request, require_loopback, run_load
from bench.scale.loadgen.grpc_load import run_grpc_load
from bench.scale.loadgen.records import Records, summarize
from bench.scale.loadgen.slow import run_slow_clients

T = TypeVar("T")


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
    parser.add_argument(
        "--grpc", action="store_true", help="KServe V2 ModelInfer calls with --body as the image"
    )
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
    if args.grpc:
        return await run_grpc_load(
            require_loopback(args.host), args.port, request.body,
            connections=args.connections, duration_s=args.duration, timeout_s=args.timeout,
            stop=stop,
        )  # fmt: skip
    return await run_load(
        request,
        connections=args.connections,
        duration_s=args.duration,
        max_requests=args.max_requests,
        timeout_s=args.timeout,
        stop=stop,
    )


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.slow:
        clients = run_slow_clients(_request(args), count=args.slow, duration_s=args.duration)
        results = [vars(result) for result in asyncio.run(clients)]
        if args.out:
            args.out.write_text(json.dumps(results))
        print(json.dumps({"slow_clients": len(results)}))
        return 0
    cpu_before, wall_before = _cpu_s(), time.monotonic()
    records = run_fast(_main(args))
    records.cpu_s, records.wall_s = _cpu_s() - cpu_before, time.monotonic() - wall_before
    if args.out:
        args.out.write_text(json.dumps(records.to_json()))
    print(json.dumps(summarize(records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
