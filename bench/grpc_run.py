"""The gRPC rows of `bench run`: ours, PyTriton's gRPC endpoint and an empty `grpc.aio`
servicer (the ceiling), each asked KServe V2 `ModelInfer` for fashion_mlp with an FP32
tensor and with the PNG as a BYTES tensor, by h2load (`bench/h2load.py`).

h2load counts HTTP 200s whatever the `grpc-status` trailer says, so every point is
checked against the server's own count of OK calls over the same run: ours
`kerasserve_requests_total{protocol="grpc",status="OK"}` from /metrics, PyTriton's
`nv_inference_request_success` from Triton's metrics port (PORT+2; PyTriton restricts
gRPC `ModelStatistics` to a token of its own), the ceiling's `ModelStatistics`. A point whose counts
differ fails. Before any load each request is sent once through grpcio, which must
answer OK with ten probabilities.
"""

import logging
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from tritonclient.grpc import service_pb2, service_pb2_grpc

from bench import envs, h2load, procs
from bench.run import APPS, DATA, MAIN_PYTHON, ROOT, Options, Point, _library_path
from bench.thread_cpu import spent, thread_seconds

logger = logging.getLogger(__name__)

OURS, PYTRITON, CEILING = "kerasserve-grpc", "pytriton-grpc", "grpc-empty"
FAMILY = "grpc"
SCENARIOS = ("grpc-fp32", "grpc-png")
# Per server: the series counting OK calls, and labels each counted line must carry.
_OK_SERIES = {
    "metrics": ("kerasserve_requests_total{", ('protocol="grpc"', 'status="OK"')),
    "triton-metrics": ("nv_inference_request_success{", ()),
}


@dataclass(frozen=True)
class GrpcSpec:
    name: str
    argv: list[str]
    calls: dict[str, h2load.Call]  # scenario -> request
    counter: str  # "metrics" (ours), "triton-metrics" or "statistics" (ModelStatistics)
    cwd: Path = APPS
    env: dict[str, str] = field(default_factory=dict)
    venv: str | None = None


def _pixels() -> np.ndarray:
    """bench/data/fashion.png as the peers decode it: float32 [1, 28, 28, 1] in [0, 1]."""
    from PIL import Image

    with Image.open(DATA / "fashion.png") as image:
        gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    return gray.reshape(1, 28, 28, 1)


def specs(options: Options) -> list[GrpcSpec]:
    port = options.port
    pixels, png = _pixels().tobytes(), h2load.bytes_element((DATA / "fashion.png").read_bytes())
    v2 = h2load.model_infer
    same = {
        "grpc-fp32": v2("fashion_mlp", "images", "FP32", [1, 28, 28, 1], pixels),
        "grpc-png": v2("fashion_mlp", "images", "BYTES", [1], png),
    }
    triton = {
        "grpc-fp32": v2("fashion_mlp_tensor", "images", "FP32", [1, 28, 28, 1], pixels),
        "grpc-png": v2("fashion_mlp", "image", "BYTES", [1, 1], png),
    }
    mlp = str(ROOT / "models" / "fashion_mlp" / "1")
    return [
        GrpcSpec(
            OURS,
            [str(ROOT / ".venv" / "bin" / "kerasserve"), "serve", "--host", "127.0.0.1",
             "--port", str(port), "--grpc-port", str(port + 1), "--models-dir",
             str(ROOT / "models"), "--poll-interval-s", "0"],
            same, "metrics", cwd=ROOT,
        ),
        # The PyTriton app of the REST rows, whose gRPC front end listens on PORT+1.
        GrpcSpec(
            PYTRITON, ["python", "pytriton_app.py", mlp, str(port)], triton, "triton-metrics",
            env={"LD_LIBRARY_PATH": _library_path()}, venv="pytriton",
        ),
        GrpcSpec(CEILING, [str(MAIN_PYTHON), "empty_grpc.py", str(port + 1)], same, "statistics"),
    ]  # fmt: skip


def _ok_from_metrics(url: str, kind: str, model: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    series, labels = _OK_SERIES[kind]
    wanted = (*labels, f'model="{model}"')
    total = 0.0
    for line in text.splitlines():
        if line.startswith(series) and all(label in line for label in wanted):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _ok_from_statistics(target: str, model: str) -> float:
    with grpc.insecure_channel(target) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        answer = stub.ModelStatistics(service_pb2.ModelStatisticsRequest(name=model), timeout=10)
    return float(sum(stats.inference_stats.success.count for stats in answer.model_stats))


def counter(spec: GrpcSpec, options: Options, scenario: str) -> Callable[[], float]:
    """The server's own count of OK ModelInfer calls so far, for the scenario's model."""
    name = service_pb2.ModelInferRequest.FromString(spec.calls[scenario].message).model_name
    if spec.counter in _OK_SERIES:
        port = options.port + (2 if spec.counter == "triton-metrics" else 0)
        url = f"http://127.0.0.1:{port}/metrics"
        return lambda: _ok_from_metrics(url, spec.counter, name)
    target = f"127.0.0.1:{options.port + 1}"
    return lambda: _ok_from_statistics(target, name)


def _wait_answering(spec: GrpcSpec, server: procs.Server, target: str, timeout_s: float) -> None:
    """Until every request of ``spec`` is answered OK once (models loaded and warm)."""
    deadline = time.monotonic() + timeout_s
    for scenario, call in spec.calls.items():
        while True:
            if server.process is None or server.process.poll() is not None:
                raise RuntimeError(f"server exited early; see {server.log}")
            try:
                answer = h2load.check_once(target, call, timeout_s=10)
                if answer.shape != (10,):
                    raise ValueError(f"{scenario}: {answer.shape} instead of 10 probabilities")
                break
            except grpc.RpcError as error:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{scenario} not answered: {error}") from error
                time.sleep(0.5)


def _cpu(pids: set[int]) -> dict[str, float]:
    """CPU seconds so far of every thread of ``pids`` (a server and its children)."""
    seconds: dict[str, float] = {}
    for pid in pids:
        try:
            seconds.update({f"{pid}:{key}": value for key, value in thread_seconds(pid).items()})
        except OSError:  # the process ended meanwhile
            continue
    return seconds


def _cpu_per_call(before: dict[str, float], after: dict[str, float], calls: int) -> str:
    """The busiest thread's CPU and the whole server's, in microseconds per call: the
    figures that move least with the machine's other load."""
    deltas = spent(before, after)
    if not calls or not deltas:
        return ""
    busiest, total = max(deltas.values()) / calls * 1e6, sum(deltas.values()) / calls * 1e6
    return f"; CPU per call: busiest thread {busiest:.0f} us, all {total:.0f} us"


def measure(
    spec: GrpcSpec, scenario: str, concurrency: int, options: Options, pids: set[int]
) -> Point:
    target, call = f"127.0.0.1:{options.port + 1}", spec.calls[scenario]
    point = Point(spec.name, scenario, concurrency)
    warm = h2load.run(target, call, concurrency, seconds=max(1.0, options.warmup_s))
    h2load.check_once(target, call)  # waits behind what the warm-up left queued
    # Exactly as many calls as the warm-up's rate fits in the duration: h2load then waits
    # for every answer, so its count and the server's cover the same calls.
    calls = max(concurrency * 20, round(warm.rps * options.duration_s))
    count = counter(spec, options, scenario)
    before, cpu_before = count(), _cpu(pids)
    result = h2load.run(target, call, concurrency, calls=calls)
    cpu_after = _cpu(pids)
    time.sleep(0.2)  # the last answers' metrics
    server_ok = round(count() - before)
    point.rps, point.requests = round(result.rps, 1), result.sent
    point.p50_ms, point.p90_ms = round(result.p50_ms, 3), round(result.p90_ms, 3)
    point.p99_ms, point.max_ms = round(result.p99_ms, 3), round(result.max_ms, 3)
    point.non_2xx = result.failed
    point.batches = f"server OK {server_ok} of {result.sent}" + _cpu_per_call(
        cpu_before, cpu_after, result.sent
    )
    if server_ok != result.succeeded:
        point.note = f"failed: h2load counted {result.succeeded} OK, the server {server_ok}"
    logger.info("%s", point)
    return point


def run_server(spec: GrpcSpec, options: Options, logs: Path) -> list[Point]:
    if spec.venv is not None and not envs.ensure(envs.ENVS[spec.venv], logs):
        return [Point(spec.name, SCENARIOS[0], 0, note="did not install")]
    argv = spec.argv
    if spec.venv is not None:
        argv = [str(envs.ENVS[spec.venv].root / "bin" / argv[0]), *argv[1:]]
    server = procs.Server(argv, logs / f"{spec.name}.log", spec.cwd, spec.env)
    points: list[Point] = []
    try:
        server.start()
        _wait_answering(spec, server, f"127.0.0.1:{options.port + 1}", 300)
        time.sleep(2)
        outside = procs.listening(server.pids()) - procs.LOOPBACK
        if outside:
            return [
                Point(spec.name, SCENARIOS[0], 0, note=f"left out: listens on {sorted(outside)}")
            ]
        for scenario in SCENARIOS:
            for concurrency in (1, 64):
                points.append(measure(spec, scenario, concurrency, options, server.pids()))
    except (RuntimeError, TimeoutError, ValueError, OSError, grpc.RpcError) as exc:
        logger.warning("%s failed: %s", spec.name, exc)
        points.append(Point(spec.name, SCENARIOS[0], 0, note=f"failed: {exc}"[:200]))
    finally:
        server.stop()
    return points


def run_all(options: Options) -> list[Point]:
    """The gRPC rows of the servers selected by name or by the family name `grpc`."""
    chosen = [s for s in specs(options) if s.name in options.servers or FAMILY in options.servers]
    points: list[Point] = []
    for spec in chosen:
        points += run_server(spec, options, options.out)
    return points
