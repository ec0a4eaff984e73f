"""The benchmark matrix: which servers, which requests, and running them one after another."""

import json
import logging
import os
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import bodies, bulk, envs, procs, promtext, report, wrk

logger = logging.getLogger(__name__)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
APPS = BENCH / "apps"
DATA = BENCH / "data"
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"
# scenario -> the model whose batch sizes are read from our /metrics
CLASSIFIERS = {
    "mlp": "fashion_mlp",
    "cnn": "mnist_lenet",
    "fashion_cnn": "fashion_cnn",
    **bulk.CLASSIFIERS,
}


@dataclass(frozen=True)
class ServerSpec:
    name: str
    argv: list[str]
    ready_path: str
    targets: dict[str, wrk.Target]  # scenario -> request
    cwd: Path = APPS
    env: dict[str, str] = field(default_factory=dict)
    venv: str | None = None  # a peer venv under bench/.venvs, None for the project's
    metrics_path: str | None = None  # ours: /metrics for the batch-size histogram
    workers: int = 1  # processes that each keep their own metrics registry
    family: str = ""  # what --servers selects it by, when not its own name

    def selected(self, servers: Sequence[str]) -> bool:
        return self.name in servers or self.family in servers


@dataclass
class Point:
    server: str
    scenario: str
    concurrency: int
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    requests: int = 0
    non_2xx: int = 0
    socket_errors: int = 0
    timeouts: int = 0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    batches: str = ""
    mean_batch: float = 0.0
    note: str = ""
    alone_images_per_s: float = 0.0  # bulk rows: the model alone, measured just before


@dataclass
class Options:
    duration_s: float
    warmup_s: float
    concurrency: list[int]
    extra_concurrency: list[int]
    servers: list[str]
    workers: list[int]  # one kerasserve row per count: kerasserve, kerasserve-2w, ...
    out: Path
    port: int = 18500
    scenarios: list[str] = field(default_factory=list)  # names or prefixes; empty: all

    def wants(self, scenario: str) -> bool:
        return not self.scenarios or any(scenario.startswith(s) for s in self.scenarios)


def forecaster_window(model_dir: Path) -> int:
    """The window of the newest version, which the service serves (36 months in v1, 240
    in v2): a shorter series is refused with a 422, and the point measures nothing."""
    newest = max((p for p in model_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    card = json.loads((newest / "model_card.json").read_text())
    return int(card["task_params"]["window"])


def specs(options: Options, scratch: Path) -> list[ServerSpec]:
    png = (DATA / "fashion.png").read_bytes()
    mlp = str(ROOT / "models" / "fashion_mlp" / "1")
    raw = wrk.Target("/classify", DATA / "fashion.png")
    form = "multipart/form-data; boundary=" + bodies.BOUNDARY
    triton_body, triton_header = bodies.triton_binary(png, "image", "probabilities")
    window = forecaster_window(ROOT / "models" / "co2_lstm")
    series = json.dumps({"model": "co2_lstm", "series": [400.0 + i * 0.2 for i in range(window)]})
    port = options.port
    ours = {
        "mlp": wrk.Target("/v1/classify?model=fashion_mlp", DATA / "fashion.png"),
        "cnn": wrk.Target("/v1/classify?model=mnist_lenet", DATA / "digit.png"),
        # issue 12 holds fashion_cnn to "no slower than before" (the naive CNN row is LeNet)
        "fashion_cnn": wrk.Target("/v1/classify?model=fashion_cnn", DATA / "fashion.png"),
        "sequence": wrk.Target(
            "/v1/sequence/predict",
            bodies.write(scratch / "series.json", series.encode()),
            content_type="application/json",
        ),
        "generate16": wrk.Target(
            "/v1/generate?model=mnist_cgan&n=16&seed=1&format=png", method="GET"
        ),
        **bulk.targets(DATA, scratch),
    }
    kerasserve = [
        ServerSpec(
            report.ours_name(workers),
            ["env", "KERASSERVE_REUSE_PORT=true",  # a socket per worker (docs/serving.md)
             str(ROOT / ".venv" / "bin" / "kerasserve"), "serve", "--host", "127.0.0.1",
             "--port", str(port), "--models-dir", str(ROOT / "models"),
             "--poll-interval-s", "0", "--workers", str(workers)],
            "/readyz", ours, cwd=ROOT, metrics_path="/metrics", workers=workers,
            family=report.OURS,
        )
        for workers in options.workers
    ]  # fmt: skip
    return [
        *kerasserve,
        ServerSpec(
            report.CEILING, [str(MAIN_PYTHON), "empty_fastapi.py", str(port)], "/health",
            {"mlp": raw},
        ),
        ServerSpec(
            "fastapi-naive", [str(MAIN_PYTHON), "naive_fastapi.py", mlp, str(port)], "/health",
            {"mlp": raw},
        ),
        ServerSpec(
            "fastapi-naive-cnn",
            [str(MAIN_PYTHON), "naive_fastapi.py", str(ROOT / "models" / "mnist_lenet" / "1"),
             str(port)],
            "/health",
            {"cnn": wrk.Target("/classify", DATA / "digit.png")},
            family="fastapi-naive",
        ),
        ServerSpec(
            "litserve", ["python", "litserve_app.py", mlp, str(port)], "/health",
            {"mlp": wrk.Target(
                "/predict", bodies.write(scratch / "form-file.bin", bodies.multipart(png, "file")),
                content_type=form,
            )},
            venv="litserve",
        ),
        ServerSpec(
            "pytriton", ["python", "pytriton_app.py", mlp, str(port)],
            "/v2/models/fashion_mlp/ready",  # the server is ready before the model is
            {"mlp": wrk.Target(
                "/v2/models/fashion_mlp/infer",
                bodies.write(scratch / "triton.bin", triton_body),
                content_type="application/octet-stream",
                header=f"Inference-Header-Content-Length: {triton_header}",
            )},
            # The Python-backend stub links whichever libpython3.11 the loader finds
            # first; Debian's is older than this interpreter's stdlib, so point it here.
            env={"LD_LIBRARY_PATH": _library_path()},
            venv="pytriton",
        ),
        ServerSpec(
            "rayserve", ["python", "rayserve_app.py", mlp, str(port)], "/-/healthz",
            {"mlp": raw}, venv="rayserve",
        ),
        ServerSpec(
            "bentoml",
            ["bentoml", "serve", "bento_service:Classifier", "--host", "127.0.0.1",
             "--port", str(port)],
            "/readyz",
            {"mlp": wrk.Target(
                "/classify",
                bodies.write(scratch / "form-image.bin", bodies.multipart(png, "image")),
                content_type=form,
            )},
            env={"BENCH_MODEL_DIR": mlp, "BENTOML_DO_NOT_TRACK": "true"},
            venv="bentoml",
        ),
    ]  # fmt: skip


def _library_path() -> str:
    """This interpreter's LIBDIR first, then any LD_LIBRARY_PATH already set.

    Peer venvs are made from this interpreter (``envs.ensure``), so they share its
    base installation and its ``libpython``.
    """
    libdir = str(sysconfig.get_config_var("LIBDIR") or "")
    return os.pathsep.join(part for part in (libdir, os.environ.get("LD_LIBRARY_PATH", "")) if part)


def _argv(spec: ServerSpec) -> list[str]:
    if spec.venv is None:
        return spec.argv
    bin_dir = envs.ENVS[spec.venv].root / "bin"
    return [str(bin_dir / spec.argv[0]), *spec.argv[1:]]


def _scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())
    except OSError:
        return ""


def _scrape_workers(url: str, workers: int) -> dict[str, str]:
    """One scrape per worker process, by process key; each has its own registry, hit by chance."""
    seen: dict[str, str] = {}
    for _ in range(8 * workers):
        text = _scrape(url)
        seen.setdefault(promtext.process_key(text), text)
        if len(seen) >= workers:
            break
    return seen


def measure(
    spec: ServerSpec, scenario: str, concurrency: int, options: Options, server: procs.Server
) -> Point:
    base = f"http://127.0.0.1:{options.port}"
    target = spec.targets[scenario]
    point = Point(spec.name, scenario, concurrency)
    wrk.warm_up(base, target, concurrency, options.warmup_s)
    if scenario in bulk.CLASSIFIERS:  # the same moment's load, our server idle meanwhile
        point.alone_images_per_s = _alone(scenario, options)
    model = CLASSIFIERS.get(scenario, "")
    metrics_url = base + spec.metrics_path if spec.metrics_path and model else ""
    metrics_before = _scrape_workers(metrics_url, spec.workers) if metrics_url else {}
    point.rss_before_mb = round(procs.rss_mb(server.pids()), 1)
    result = wrk.run(base, target, concurrency, options.duration_s)
    point.rss_after_mb = round(procs.rss_mb(server.pids()), 1)
    if metrics_before:
        metrics_after = _scrape_workers(metrics_url, spec.workers)
        # Only workers seen in both scrapes: a difference across two processes means nothing.
        both = sorted(metrics_before.keys() & metrics_after.keys())
        before_all = promtext.combine([metrics_before[key] for key in both])
        after_all = promtext.combine([metrics_after[key] for key in both])
        point.batches = promtext.distribution(
            promtext.batch_buckets(before_all, model), promtext.batch_buckets(after_all, model)
        )
        rows0, batches0 = promtext.batch_totals(before_all, model)
        rows1, batches1 = promtext.batch_totals(after_all, model)
        point.mean_batch = round((rows1 - rows0) / max(1.0, batches1 - batches0), 2)
        if len(both) < spec.workers:
            point.batches += f" ({len(both)} of {spec.workers} workers scraped)"
    point.rps = round(result.rps, 1)
    point.p50_ms, point.p90_ms = result.p50_ms, result.p90_ms
    point.p99_ms, point.max_ms = result.p99_ms, result.max_ms
    point.requests, point.non_2xx = result.requests, result.non_2xx
    point.socket_errors, point.timeouts = result.socket_errors, result.timeouts
    if result.rps == 0:
        point.note = f"failed: no successful response; see {spec.name}.log"
    logger.info("%s", point)
    return point


def plan(spec: ServerSpec, options: Options) -> list[tuple[str, int]]:
    points = [("mlp", c) for c in options.concurrency if "mlp" in spec.targets]
    for scenario in ("cnn", "fashion_cnn", "sequence", "generate16"):
        if scenario in spec.targets:
            points += [(scenario, c) for c in options.extra_concurrency]
    points += [(s, bulk.CONCURRENCY) for s in bulk.SCENARIOS if s in spec.targets]
    return [(scenario, c) for scenario, c in points if options.wants(scenario)]


def run_server(spec: ServerSpec, options: Options, logs: Path) -> list[Point]:
    """Start one server, measure its points, stop it; failures become a note row."""
    if spec.venv is not None and not envs.ensure(envs.ENVS[spec.venv], logs):
        return [Point(spec.name, "mlp", 0, note="did not install")]
    server = procs.Server(_argv(spec), logs / f"{spec.name}.log", spec.cwd, spec.env)
    points: list[Point] = []
    try:
        server.start()
        server.wait_ready(f"http://127.0.0.1:{options.port}{spec.ready_path}", 300)
        time.sleep(2)  # helper processes finish binding
        outside = procs.listening(server.pids()) - procs.LOOPBACK
        if outside:
            return [Point(spec.name, "mlp", 0, note=f"left out: listens on {sorted(outside)}")]
        for scenario, concurrency in plan(spec, options):
            points.append(measure(spec, scenario, concurrency, options, server))
    except (RuntimeError, TimeoutError, ValueError, subprocess.SubprocessError) as exc:
        logger.warning("%s failed: %s", spec.name, exc)
        points.append(Point(spec.name, "mlp", 0, note=f"failed: {exc}"[:200]))
    finally:
        server.stop()
    return points


def raw_generator(options: Options) -> Point:
    argv = [str(MAIN_PYTHON), "raw_generator.py", str(ROOT / "models" / "mnist_cgan" / "1"),
            "16", str(max(2.0, options.duration_s))]  # fmt: skip
    done = subprocess.run(argv, cwd=APPS, capture_output=True, text=True, timeout=600)
    try:
        images_per_s = float(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return Point("raw-generator", "generate16", 1, note="failed: " + done.stderr[-150:])
    return Point("raw-generator", "generate16", 1, rps=round(images_per_s / 16, 1))


def _alone(scenario: str, options: Options) -> float:
    """The bulk model's signature alone at batch 64, in images/s (0 when it failed)."""
    model, scratch = bulk.model_of(scenario), options.out / "bodies"
    try:
        seconds = max(2.0, options.duration_s)
        return round(bulk.raw_images_per_s(MAIN_PYTHON, APPS, model, DATA, scratch, seconds), 1)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        logger.warning("%s alone failed: %s", model.name, exc)
        return 0.0


def run_all(options: Options) -> list[Point]:
    options.out.mkdir(parents=True, exist_ok=True)
    scratch = options.out / "bodies"
    points: list[Point] = []
    for spec in specs(options, scratch):
        if spec.selected(options.servers):
            points += run_server(spec, options, options.out)
            (options.out / "results.json").write_text(
                json.dumps([asdict(p) for p in points], indent=1)
            )
    if report.OURS in options.servers and options.wants("generate16"):
        points.append(raw_generator(options))
    (options.out / "results.json").write_text(json.dumps([asdict(p) for p in points], indent=1))
    return points


if __name__ == "__main__":
    sys.exit("use: python -m bench run")
