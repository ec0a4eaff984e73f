"""The in-app cost of one gRPC ModelInfer call, without sockets or grpc.aio itself.

The service's wrapped ModelInfer handler (call policy, servicer, task layer, batcher,
model, encoding, metrics, access log: everything `grpc.aio` calls for a call) is called
directly with a parsed request and a stand-in context, by closed-loop clients that each
yield one loop turn between calls, as calls reach the loop one per turn from grpc.aio.
What is printed is the event loop thread's CPU per call: the work this service adds to
what grpc.aio spends per call (its empty servicer: ~175 us here). On a shared machine
this moves far less than calls/s through sockets.

    python -m bench.grpc_inproc [--clients 1,5,64] [--base REV]

With ``--base``, that revision (a worktree under bench/.ab/, as `bench.ab` makes) and
this checkout are measured in alternating child processes, and B/A printed. Benchmarks
are not tests: CI never runs this.
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
METHOD = "/inference.GRPCInferenceService/ModelInfer"


class _Context:
    """What the call policy and the servicer ask of a `grpc.aio.ServicerContext`."""

    def __init__(self) -> None:
        self.trailers: Any = ()

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def set_trailing_metadata(self, trailers: Any) -> None:
        self.trailers = trailers

    def time_remaining(self) -> None:
        return None

    async def abort(self, code: Any, details: str, trailers: Any = ()) -> None:
        raise RuntimeError(f"the call failed: {code} {details}")


async def _loop_us_per_call(handler: Any, message: bytes, clients: int, calls: int) -> float:
    """Loop-thread CPU microseconds per call while ``clients`` make ``calls`` in all."""

    async def client(count: int) -> None:
        for _ in range(count):
            await asyncio.sleep(0)  # the round trip: the next call comes in a later turn
            answer = await handler.unary_unary(handler.request_deserializer(message), _Context())
            handler.response_serializer(answer)

    each = max(1, calls // clients)
    started = time.thread_time()
    await asyncio.gather(*(client(each) for _ in range(clients)))
    return (time.thread_time() - started) / (each * clients) * 1e6


async def measure(
    models_dir: Path, messages: dict[str, bytes], clients: list[int], rounds: int, calls: int
) -> dict[str, float]:
    """Median loop CPU per call for each message and client count. Logging is set
    up as `kerasserve serve` sets it (JSON access lines, batched), into /dev/null."""
    from service.config import Settings
    from service.logs import configure_logging
    from service.main import create_app

    app = create_app(Settings(models_dir=models_dir, poll_interval_s=0, grpc_port=0))
    with Path(os.devnull).open("w") as sink, contextlib.redirect_stderr(sink):
        configure_logging("json", "INFO")
        return await _measure_app(app, messages, clients, rounds, calls)


async def _measure_app(
    app: Any, messages: dict[str, bytes], clients: list[int], rounds: int, calls: int
) -> dict[str, float]:
    from service.rpc.server import RpcServer
    from service.server.access_log import AccessLog

    async with app.router.lifespan_context(app) as state:
        server = RpcServer(state["services"], AccessLog())
        handler = server.handlers.service(_Method())
        results: dict[str, float] = {}
        for kind, message in messages.items():
            for count in clients:
                await _loop_us_per_call(handler, message, count, calls)  # warm up
                samples = [
                    await _loop_us_per_call(handler, message, count, calls) for _ in range(rounds)
                ]
                results[f"{kind} c={count}"] = statistics.median(samples)
    return results


class _Method:
    """The `grpc.HandlerCallDetails` a generic handler is asked about."""

    method = METHOD
    invocation_metadata = ()


def the_bench_run_calls() -> dict[str, bytes]:
    """The `bench run` gRPC rows' ModelInfer messages (fashion_mlp: FP32 and PNG)."""
    from bench.grpc_ab import calls

    return {name: call.message for name, call in calls().items()}


def _child(tree: Path, messages: Path, options: argparse.Namespace) -> dict[str, float]:
    """One measurement of ``tree``'s code, in a fresh interpreter that imports nothing of
    this checkout but this file (the messages come as files, the same bytes to both)."""
    command = [
        sys.executable,
        str(Path(__file__)),
        "--json",
        "--messages",
        str(messages),
        "--models-dir",
        str(tree / "models"),
        "--clients",
        options.clients,
        "--rounds",
        str(options.rounds),
        "--calls",
        str(options.calls),
    ]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=True)
    results: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def compare(base: str, options: argparse.Namespace) -> str:
    """``base`` against this checkout, child processes alternating ``options.pairs`` times."""
    from bench.ab import checkout

    sides = {base: checkout(base), "checkout": ROOT}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in sides}
    with tempfile.TemporaryDirectory() as scratch:
        messages = Path(scratch)
        for name, message in the_bench_run_calls().items():
            (messages / f"{name}.bin").write_bytes(message)
        for _ in range(options.pairs):
            for label, tree in sides.items():
                runs[label].append(_child(tree, messages, options))
    lines = [f"| loop us per call | {base} | checkout | B/A |", "|---|---|---|---|"]
    for key in runs[base][0]:
        a = statistics.median(run[key] for run in runs[base])
        b = statistics.median(run[key] for run in runs["checkout"])
        lines.append(f"| {key} | {a:.1f} | {b:.1f} | {b / a:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--clients", default="1,5,64", help="comma-separated client counts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3200, help="calls per round")
    parser.add_argument("--base", help="a revision to compare this checkout with")
    parser.add_argument("--pairs", type=int, default=3, help="alternations with --base")
    parser.add_argument("--json", action="store_true", help="one JSON line (for --base)")
    parser.add_argument("--messages", type=Path, help="a directory of NAME.bin messages")
    options = parser.parse_args()
    if options.base:
        print(compare(options.base, options))
        return
    clients = [int(count) for count in options.clients.split(",")]
    if options.messages is None:
        messages = the_bench_run_calls()
    else:
        messages = {path.stem: path.read_bytes() for path in sorted(options.messages.glob("*.bin"))}
    results = asyncio.run(
        measure(options.models_dir, messages, clients, options.rounds, options.calls)
    )
    if options.json:
        print(json.dumps(results))
        return
    for key, value in results.items():
        print(f"{key}: {value:.1f} us of loop CPU per call")


if __name__ == "__main__":
    main()
