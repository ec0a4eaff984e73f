"""What a 100% shadow costs a lone client: one server, paired models, short slices.

    python -m bench.shadow_cost [--slices 20] [--seconds 3] [--connections 1]

A c=1 p50 moves by 10-15% between server starts and minutes on a shared machine, more
than the cost being measured, so `bench.ab`'s one server per scenario cannot resolve it.
Here one server holds three copies of fashion_mlp, each with v1 and v2 (the same
model): `plain` without versions.json, `stable` with the file sending all traffic to v1,
and `shadowed` with the same file plus a shadow of every request on v2. wrk sends the
28x28 PNG to each in turn, a few seconds at a time, round after round, so drift hits
all three alike. The report gives each one's median p50 over the slices and the
median of the per-round ratios (shadowed against each reference), with the shadow rows
compared and shed. Benchmarks are not tests: CI never runs this.
"""

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

from bench import ab, procs, wrk

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
BODY = ROOT / "bench" / "data" / "fashion.png"
LABELS = ab.LABELS
MODELS: dict[str, dict[str, object] | None] = {
    "plain": None,
    "stable": {"version_labels": LABELS, "traffic": {"stable": 100}},
    "shadowed": {
        "version_labels": LABELS,
        "traffic": {"stable": 100},
        "shadow": {"version_label": "canary", "percent": 100},
    },
}


def models_dir(root: Path) -> Path:
    """fashion_mlp v1 and its copy as v2, three times, with each one's versions.json."""
    for name, document in MODELS.items():
        for version in (1, 2):
            shutil.copytree(ROOT / "models" / "fashion_mlp" / "1", root / name / str(version))
        if document is not None:
            (root / name / "versions.json").write_text(json.dumps(document))
    return root


def shadow_counts(base_url: str) -> tuple[int, int]:
    """The shadowed model's rows compared and calls shed so far."""
    counts = ab.shadow_counts(base_url, "shadowed")
    if counts is None:
        raise RuntimeError("the shadowed model has no shadow report")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=20, help="rounds over the three models")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--port", type=int, default=18660)
    options = parser.parse_args()
    base_url = f"http://127.0.0.1:{options.port}"
    targets = {name: wrk.Target(f"/v1/classify?model={name}", BODY) for name in MODELS}
    p50s: dict[str, list[float]] = {name: [] for name in MODELS}
    with tempfile.TemporaryDirectory() as temporary:
        scratch = Path(temporary)
        argv = [
            str(PYTHON), "-m", "service.cli", "serve", "--host", "127.0.0.1",
            "--port", str(options.port), "--models-dir", str(models_dir(scratch / "models")),
            "--poll-interval-s", "0", "--workers", "1",
        ]  # fmt: skip
        server = procs.Server(argv, scratch / "server.log", ROOT, {})
        server.start()
        try:
            server.wait_ready(f"{base_url}/readyz", timeout_s=300)
            for target in targets.values():
                wrk.warm_up(base_url, target, options.connections, 2.0)
            before = shadow_counts(base_url)
            for slice_index in range(options.slices):
                names = list(MODELS) if slice_index % 2 == 0 else list(reversed(MODELS))
                for name in names:
                    result = wrk.run(base_url, targets[name], options.connections, options.seconds)
                    if result.errors:
                        raise RuntimeError(f"{name}: {result.errors} errors")
                    p50s[name].append(result.p50_ms)
            after = shadow_counts(base_url)
        finally:
            server.stop()
    print(report(p50s, options.connections))
    print(f"shadow rows compared {after[0] - before[0]:,}, shed {after[1] - before[1]:,}")


def report(p50s: dict[str, list[float]], connections: int) -> str:
    lines = [
        f"| model (c={connections}) | median p50 ms | shadowed / this, median of rounds |",
        "|---|---|---|",
    ]
    for name, values in p50s.items():
        ratios = [s / v for s, v in zip(p50s["shadowed"], values, strict=True)]
        lines.append(
            f"| {name} | {statistics.median(values):.3f} | {statistics.median(ratios):.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
