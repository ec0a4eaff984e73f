"""A/B two revisions of kerasserve on the same requests, interleaved, in one run.

    python -m bench.ab --base a082ccc [--head WORKTREE_OR_REV] [--rounds 2]

Each revision is checked out into a git worktree under bench/.ab/ (the head defaults
to this checkout) and served with the project's venv, one at a time on the same port
and the same committed models. Rounds alternate A, B, A, B... so drift on a shared
machine (other load, thermal state) hits both sides alike; the report gives each
side's median over rounds and the B/A ratio, the median of the rounds' own B/A ratios
(each round's two points ran minutes apart, not an hour), and each side's server CPU
per 2xx answer (user + system, every process of the server, from /proc): on a shared
machine the cores' speed moves both sides' throughput by tens of percent, and the
paired ratios and the CPU per answer say more than the medians' ratio. Benchmarks are
not tests: CI never runs this.

The rollout scenarios serve a models directory of their own: the side's fashion_mlp v1
and a copy of it as v2 (the same model twice), with a versions.json beside them or
none (`mlp_two_versions`, their reference; `mlp_stable` has the file, all traffic on
one label and no shadow: the reference that isolates what a shadow costs). A revision
without versions.json ignores the file and serves v2, the same model, so every scenario
runs on both sides; on a revision with it, the shadow's rows compared and shed are
logged after each point.
"""

import argparse
import json
import logging
import shutil
import statistics
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from bench import bulk, procs, wrk

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
WORKTREES = ROOT / "bench" / ".ab"
KERASSERVE = ROOT / ".venv" / "bin" / "python"

TARGETS = {
    "mlp": wrk.Target("/v1/classify?model=fashion_mlp", DATA / "fashion.png"),
    "cnn": wrk.Target("/v1/classify?model=mnist_lenet", DATA / "digit.png"),
    "fashion_cnn": wrk.Target("/v1/classify?model=fashion_cnn", DATA / "fashion.png"),
    "generate16": wrk.Target("/v1/generate?model=mnist_cgan&n=16&seed=1&format=png", method="GET"),
}
# Rollout scenarios: the mlp request on fashion_mlp v1 and v2 (a copy), with this
# versions.json (None: no file). Labels name both versions, so both stay loaded.
LABELS = {"stable": 1, "canary": 2}
ROLLOUTS: dict[str, dict[str, Any] | None] = {
    "mlp_two_versions": None,
    "mlp_stable": {"version_labels": LABELS, "traffic": {"stable": 100}},
    "mlp_traffic": {"version_labels": LABELS, "traffic": {"stable": 50, "canary": 50}},
    "mlp_canary": {"version_labels": LABELS, "traffic": {"stable": 90, "canary": 10}},
    "mlp_shadow": {
        "version_labels": LABELS,
        "traffic": {"stable": 100},
        "shadow": {"version_label": "canary", "percent": 100},
    },
}
TARGETS.update(dict.fromkeys(ROLLOUTS, TARGETS["mlp"]))
# The bulk scenarios (64 images a request, JSON or V2 binary): bodies built per run.
SCENARIOS = (*TARGETS, *bulk.SCENARIOS)


def target_of(scenario: str, scratch: Path) -> wrk.Target:
    """What ``scenario`` sends; a bulk scenario's body is written under ``scratch`` once."""
    if scenario in TARGETS:
        return TARGETS[scenario]
    if not (scratch / "bulk").exists():
        TARGETS.update(bulk.targets(DATA, scratch / "bulk"))
    return TARGETS[scenario]


@dataclass(frozen=True)
class Side:
    label: str
    tree: Path
    env: tuple[tuple[str, str], ...] = ()  # settings of this side only (KERASSERVE_...)


def checkout(revision: str) -> Path:
    """A worktree of ``revision``, named by its commit and reused when already there (a
    worktree named after a moving name such as HEAD would be reused once it moved)."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short=12", f"{revision}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    tree = WORKTREES / commit
    if not tree.exists():
        WORKTREES.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
            check=True,
            capture_output=True,
        )
    return tree


def models_dir(side: Side, scenario: str, scratch: Path) -> Path:
    """The side's committed models, or the rollout scenario's directory built from them."""
    if scenario not in ROLLOUTS:
        return side.tree / "models"
    root = scratch / f"{side.label}-{scenario}"
    if not root.exists():
        model = root / "fashion_mlp"
        for version in (1, 2):
            shutil.copytree(side.tree / "models" / "fashion_mlp" / "1", model / str(version))
        document = ROLLOUTS[scenario]
        if document is not None:
            (model / "versions.json").write_text(json.dumps(document))
    return root


def shadow_counts(base_url: str, model: str = "fashion_mlp") -> tuple[int, int] | None:
    """The model's shadow rows compared and calls shed so far (None: no shadow report)."""
    try:
        with urllib.request.urlopen(f"{base_url}/v1/models/{model}/shadow") as answer:
            report = json.load(answer)
    except urllib.error.HTTPError:
        return None  # a revision without versions.json
    rows = sum(row["agree"] + row["disagree"] + row["error"] for row in report["rows"])
    return rows, int(report["shed"])


def serve(
    side: Side, port: int, log: Path, workers: int, models: Path, extra: Sequence[str] = ()
) -> procs.Server:
    """The side's code (PYTHONPATH first) over ``models`` (its own: cards may differ),
    with the default settings (JSON access log, metrics and request ids on) and ``extra``
    options."""
    argv = [
        str(KERASSERVE), "-m", "service.cli", "serve", "--host", "127.0.0.1",
        "--port", str(port), "--models-dir", str(models),
        "--poll-interval-s", "0", "--workers", str(workers), *extra,
    ]  # fmt: skip
    env = {"PYTHONPATH": str(side.tree), **dict(side.env)}
    server = procs.Server(argv, log, side.tree, env)
    server.start()
    server.wait_ready(f"http://127.0.0.1:{port}/readyz", timeout_s=300)
    return server


@dataclass(frozen=True)
class Measured:
    result: wrk.WrkResult
    server_us_per_answer: float  # the server's CPU (all its processes) per 2xx answer


def measure(
    sides: list[Side], scenarios: list[str], options: argparse.Namespace
) -> dict[tuple[str, str], list[Measured]]:
    results: dict[tuple[str, str], list[Measured]] = {}
    base_url = f"http://127.0.0.1:{options.port}"
    with tempfile.TemporaryDirectory() as temporary:
        scratch = Path(temporary)
        for round_index in range(options.rounds):
            order = sides if round_index % 2 == 0 else list(reversed(sides))
            for side in order:
                # One server per models directory: the committed one, or a scenario's own.
                by_models = groupby(
                    points(scenarios, options.connections),
                    key=lambda point: models_dir(side, point[0], scratch),
                )
                for models, group in by_models:
                    log = scratch / f"{side.label}-{round_index}-{models.name}.log"
                    server = serve(side, options.port, log, options.workers, models)
                    try:
                        for scenario, connections in group:
                            key = f"{scenario} c={connections}"
                            target = target_of(scenario, scratch)
                            measured = point(
                                server, base_url, scenario, target, connections, options
                            )
                            results.setdefault((side.label, key), []).append(measured)
                            result = measured.result
                            logger.info(
                                "%s %s round %d: %.0f req/s, p50 %.3f ms, p99 %.1f ms, "
                                "errors %d, server CPU %.0f us/answer",
                                side.label, key, round_index, result.rps, result.p50_ms,
                                result.p99_ms, result.errors, measured.server_us_per_answer,
                            )  # fmt: skip
                    finally:
                        server.stop()
    return results


def point(
    server: procs.Server,
    base_url: str,
    scenario: str,
    target: wrk.Target,
    connections: int,
    options: argparse.Namespace,
) -> Measured:
    """One scenario at one concurrency: warm-up, then the measured run."""
    wrk.warm_up(base_url, target, connections, options.warmup_s)
    shadow = ROLLOUTS.get(scenario) or {}
    before = shadow_counts(base_url) if "shadow" in shadow else None
    pids = server.pids()
    cpu_before = procs.cpu_seconds(pids)
    result = wrk.run(base_url, target, connections, options.seconds)
    cpu = procs.cpu_seconds(pids) - cpu_before
    after = shadow_counts(base_url) if before is not None else None
    if before is not None and after is not None:
        logger.info(
            "%s c=%d: %d shadow rows compared, %d shed (warm-up excluded)",
            scenario, connections, after[0] - before[0], after[1] - before[1],
        )  # fmt: skip
    answers = result.requests - result.non_2xx
    return Measured(result, cpu / answers * 1e6 if answers else float("nan"))


def points(scenarios: list[str], connections: list[int]) -> list[tuple[str, int]]:
    return [(scenario, count) for scenario in scenarios for count in connections]


def report(
    sides: list[Side], scenarios: list[str], results: dict[tuple[str, str], list[Measured]]
) -> str:
    base, head = sides
    lines = [
        f"| point | {base.label} req/s | {head.label} req/s | ratio | paired ratio | "
        f"{base.label} CPU us/answer | {head.label} CPU us/answer | "
        f"{base.label} p50 ms | {head.label} p50 ms | "
        f"{base.label} p99 ms | {head.label} p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = list(dict.fromkeys(key for _, key in results))
    for key in keys:
        a, b = results[(base.label, key)], results[(head.label, key)]
        rps_a = statistics.median(m.result.rps for m in a)
        rps_b = statistics.median(m.result.rps for m in b)
        paired = statistics.median(
            mb.result.rps / ma.result.rps for ma, mb in zip(a, b, strict=True) if ma.result.rps
        )
        cpu_a = statistics.median(m.server_us_per_answer for m in a)
        cpu_b = statistics.median(m.server_us_per_answer for m in b)
        p50_a = statistics.median(m.result.p50_ms for m in a)
        p50_b = statistics.median(m.result.p50_ms for m in b)
        p99_a = statistics.median(m.result.p99_ms for m in a)
        p99_b = statistics.median(m.result.p99_ms for m in b)
        errors = sum(m.result.errors for m in a + b)
        lines.append(
            f"| {key} | {rps_a:,.0f} | {rps_b:,.0f} | {rps_b / rps_a:.3f} | {paired:.3f} | "
            f"{cpu_a:.0f} | {cpu_b:.0f} | "
            f"{p50_a:.3f} | {p50_b:.3f} | {p99_a:.1f} | {p99_b:.1f} | {errors} |"
        )
    return "\n".join(lines)


def setting(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` as a pair."""
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--head", default=None, help="git revision (default: this checkout)")
    parser.add_argument(
        "--scenarios", default="mlp,cnn,generate16", help=f"some of {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--connections", type=lambda text: [int(n) for n in text.split(",")], default=[64]
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=18600)
    parser.add_argument(
        "--base-env",
        action="append",
        default=[],
        type=setting,
        metavar="NAME=VALUE",
        help="an environment setting for the base side only (repeatable): with --base "
        "HEAD, compares settings rather than revisions",
    )
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    head_tree = ROOT if options.head is None else checkout(options.head)
    head = Side(options.head or "checkout", head_tree)
    base_env = tuple(options.base_env)
    base_label = " ".join([options.base, *(f"{name}={value}" for name, value in base_env)])
    sides = [Side(base_label, checkout(options.base), base_env), head]
    scenarios = options.scenarios.split(",")
    print(report(sides, scenarios, measure(sides, scenarios, options)))


if __name__ == "__main__":
    main()
