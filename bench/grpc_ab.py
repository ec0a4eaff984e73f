"""A/B two revisions of kerasserve over gRPC, interleaved, in one run.

    python -m bench.grpc_ab --base e083549 [--head WORKTREE_OR_REV] [--rounds 4]

Both revisions serve the committed models at once (checked out as `bench.ab` does, under
bench/.ab/), and h2load sends each in turn the V2 ModelInfer calls of the `bench run`
gRPC rows (fashion_mlp, FP32 tensor and PNG as BYTES) at one concurrency, round after
round, so drift on a shared machine hits both alike. Per side and request: the median
calls/s, the event loop's CPU per call (the busiest thread, from /proc), the mean batch
size (`kerasserve_batch_size`) and p50/p99; then B/A. Benchmarks are not tests: CI never
runs this.
"""

import argparse
import statistics
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench import h2load, procs
from bench.ab import DATA, ROOT, Side, checkout, serve
from bench.grpc_run import _pixels
from bench.thread_cpu import spent, thread_seconds


@dataclass(frozen=True)
class Sample:
    calls_per_s: float
    loop_us_per_call: float
    mean_batch: float
    p50_ms: float
    p99_ms: float


def calls() -> dict[str, h2load.Call]:
    png = h2load.bytes_element((DATA / "fashion.png").read_bytes())
    return {
        "fp32": h2load.model_infer(
            "fashion_mlp", "images", "FP32", [1, 28, 28, 1], _pixels().tobytes()
        ),
        "png": h2load.model_infer("fashion_mlp", "images", "BYTES", [1], png),
    }


def batches(port: int) -> tuple[float, float]:
    """fashion_mlp's batches so far and the rows in them."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    count = rows = 0.0
    for line in text.splitlines():
        if line.startswith('kerasserve_batch_size_count{model="fashion_mlp"'):
            count += float(line.rsplit(" ", 1)[1])
        elif line.startswith('kerasserve_batch_size_sum{model="fashion_mlp"'):
            rows += float(line.rsplit(" ", 1)[1])
    return count, rows


def sample(
    server: procs.Server, port: int, call: h2load.Call, options: argparse.Namespace
) -> Sample:
    target = f"127.0.0.1:{port + 1}"
    h2load.run(target, call, options.connections, seconds=options.warmup)
    pid = server.process.pid if server.process else 0
    cpu, (count, rows) = thread_seconds(pid), batches(port)
    result = h2load.run(target, call, options.connections, seconds=options.seconds)
    busiest = max(spent(cpu, thread_seconds(pid)).values())
    count_after, rows_after = batches(port)
    answered = max(1, result.succeeded)
    return Sample(
        calls_per_s=result.succeeded / result.seconds,
        loop_us_per_call=busiest / answered * 1e6,
        mean_batch=(rows_after - rows) / max(1.0, count_after - count),
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
    )


def report(sides: list[Side], samples: dict[tuple[str, str], list[Sample]]) -> str:
    lines = ["| request | side | calls/s | loop us/call | mean batch | p50 ms | p99 ms |"]
    lines.append("|---|---|---|---|---|---|---|")
    medians: dict[tuple[str, str], float] = {}
    for request in sorted({request for request, _ in samples}):
        for side in sides:
            rounds = samples[(request, side.label)]
            medians[(request, side.label)] = statistics.median(s.calls_per_s for s in rounds)
            lines.append(
                f"| {request} | {side.label} | {medians[(request, side.label)]:,.0f} | "
                f"{statistics.median(s.loop_us_per_call for s in rounds):.0f} | "
                f"{statistics.median(s.mean_batch for s in rounds):.1f} | "
                f"{statistics.median(s.p50_ms for s in rounds):.1f} | "
                f"{statistics.median(s.p99_ms for s in rounds):.1f} |"
            )
        ratio = medians[(request, sides[1].label)] / medians[(request, sides[0].label)]
        lines.append(f"| {request} | B/A | {ratio:.3f} | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base", required=True, help="revision A")
    parser.add_argument("--head", default=None, help="revision B (default: this checkout)")
    parser.add_argument("--requests", default="fp32,png")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--port", type=int, default=19500)
    options = parser.parse_args()
    head = (
        Side("checkout", ROOT)
        if options.head is None
        else Side(options.head, checkout(options.head))
    )
    sides = [Side(options.base, checkout(options.base)), head]
    wanted = {name: call for name, call in calls().items() if name in options.requests.split(",")}
    samples: dict[tuple[str, str], list[Sample]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        ports = {side.label: options.port + 10 * index for index, side in enumerate(sides)}
        servers = [
            serve(
                side,
                ports[side.label],
                Path(scratch) / f"{index}.log",
                workers=1,
                models=side.tree / "models",
                extra=("--grpc-port", str(ports[side.label] + 1)),
            )
            for index, side in enumerate(sides)
        ]
        try:
            for round_ in range(options.rounds):
                for name, call in wanted.items():
                    for side, server in zip(sides, servers, strict=True):
                        got = sample(server, ports[side.label], call, options)
                        samples.setdefault((name, side.label), []).append(got)
                        print(f"{side.label} {name} round {round_}: {got}", flush=True)
        finally:
            for server in servers:
                server.stop()
    print(report(sides, samples))


if __name__ == "__main__":
    main()
