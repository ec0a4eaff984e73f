"""`python -m bench run`: every server, the same model and image, one sitting.

python -m bench run [--duration 20] [--warmup 5] [--servers kerasserve,litserve,...]
                    (gRPC rows: kerasserve-grpc, pytriton-grpc, grpc-empty, or all as grpc)
                    [--workers 1,2]   (one kerasserve row per count: kerasserve, kerasserve-2w)
                    [--scenarios bulk]  (by name or prefix: mlp, cnn, bulk, bulk_v2, ...)
python -m bench report RESULTS.json   (rewrite docs/benchmarks.md from saved results)
"""

import argparse
import datetime
import json
import logging
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench import grpc_report, grpc_run, host, report, run

ALL = (
    "kerasserve,fastapi-empty,fastapi-naive,litserve,pytriton,rayserve,bentoml,"
    "kerasserve-grpc,pytriton-grpc,grpc-empty"
)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), {system}, load average at start {load}"


def _write_docs(points: list[dict[str, Any]], command: str, machine: str, seconds: float) -> None:
    docs = run.ROOT / "docs"
    header = (
        f"## Latest run\n\n{datetime.date.today().isoformat()}, {machine}; "
        f"`{command}`, {seconds / 60:.1f} min in all."
    )
    rest = [p for p in points if p["scenario"] not in grpc_run.SCENARIOS]
    if rest:
        report.plot(rest, docs / "benchmarks.png")
        report.write(docs / "benchmarks.md", report.section(rest, header))
    grpc = grpc_report.section(points)
    if grpc:  # its own marked block: a gRPC-only run leaves the REST figures alone
        text = header.replace("## Latest run", "## Latest gRPC run") + "\n\n" + grpc
        report.write(docs / "benchmarks.md", text, grpc_report.BEGIN, grpc_report.END)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    commands = parser.add_subparsers(dest="command", required=True)
    go = commands.add_parser("run", help="measure every server and rewrite docs/benchmarks.md")
    go.add_argument("--duration", type=float, default=20.0, help="seconds measured per point")
    go.add_argument("--warmup", type=float, default=5.0, help="seconds of load before each point")
    go.add_argument("--concurrency", default="1,16,64,256")
    go.add_argument("--extra-concurrency", default="1,64", help="for the CNNs, sequence, generate")
    go.add_argument("--servers", default=ALL)
    go.add_argument(
        "--scenarios", default="", help="only these scenarios, by name or prefix (bulk: all bulk)"
    )
    go.add_argument(
        "--workers", default="1,2", help="our process counts, each its own row (1 = kerasserve)"
    )
    go.add_argument(
        "--out", type=Path, default=run.BENCH / "results" / time.strftime("%Y%m%d-%H%M%S")
    )
    go.add_argument("--port", type=int, default=18500, help="where each server listens")
    go.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    go.add_argument(
        "--cpu-wake-latency-us",
        type=int,
        default=None,
        help="hold /dev/cpu_dma_latency at this bound for the run (0: idle CPUs poll)",
    )
    again = commands.add_parser("report", help="rewrite docs/benchmarks.md from results.json")
    again.add_argument("results", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    command = "python -m bench " + shlex.join(sys.argv[1:])
    if args.command == "report":
        points = json.loads(args.results.read_text())
        _write_docs(points, command, "(from saved results)", 0.0)
        return 0
    options = run.Options(
        duration_s=args.duration, warmup_s=args.warmup, concurrency=_ints(args.concurrency),
        extra_concurrency=_ints(args.extra_concurrency), servers=args.servers.split(","),
        workers=_ints(args.workers), out=args.out,
        scenarios=[part for part in args.scenarios.split(",") if part], port=args.port,
    )  # fmt: skip
    with host.cpu_wake_latency(args.cpu_wake_latency_us) as tuning:
        machine, started = f"{_machine()}, {tuning}", time.monotonic()
        points = [vars(p) for p in run.run_all(options)]
        grpc = [vars(p) for p in grpc_run.run_all(options)]
        if grpc:
            points += grpc
            (options.out / "results.json").write_text(json.dumps(points, indent=1))
    if not args.no_docs:
        _write_docs(points, command, machine, time.monotonic() - started)
    logging.info("results in %s", options.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
