"""SIGTERM to `kerasserve serve` answers every gRPC call already in the batcher, then
exits in time, as it does for REST (tests/service/api/test_live_shutdown.py); calls that
keep arriving while a balancer has yet to see the readiness turn are answered too.

The forecaster pauses a fixed time per batch (`tests.utils.slow_models`), so the backlog
lasts seconds on a machine of any speed.
"""

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from tritonclient.grpc import service_pb2, service_pb2_grpc

from tests.service.api.live import free_port, start_serve, wait_ready
from tests.utils.slow_models import batcher_rows, slowed_forecaster, until_submitted

pytestmark = pytest.mark.slow

QUEUED = 5
BATCH = 32
ROWS = 320  # 10 batches of 32 per call
PAUSE_S = 0.05  # per batch: 50 batches queued are 2.5 s of backlog on any machine


def _request() -> service_pb2.ModelInferRequest:
    series = np.tile(np.arange(12, dtype=np.float32), (ROWS, 1))
    request = service_pb2.ModelInferRequest(model_name="tiny_forecaster")
    request.inputs.add(name="series", datatype="FP32", shape=[ROWS, 12])
    request.raw_input_contents.append(series.tobytes())
    return request


async def _queue_then_terminate(
    url: str, target: str, process: subprocess.Popen[bytes]
) -> tuple[float, list[service_pb2.ModelInferResponse]]:
    """QUEUED calls of ROWS rows each; SIGTERM once all sit in the batcher."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=60) as http,
        grpc.aio.insecure_channel(target) as channel,
    ):
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        baseline = sum(batcher_rows((await http.get("/metrics")).text))
        calls = [
            asyncio.ensure_future(stub.ModelInfer(_request(), timeout=60)) for _ in range(QUEUED)
        ]
        queued = await until_submitted(http, baseline + QUEUED * ROWS, BATCH)
        process.send_signal(signal.SIGTERM)
        return queued, list(await asyncio.gather(*calls))


def test_sigterm_drains_grpc_calls_in_flight(rpc_zoo: Path, tmp_path: Path):
    models_dir = tmp_path / "models"
    source, target = rpc_zoo / "tiny_forecaster" / "1", models_dir / "tiny_forecaster" / "1"
    slowed_forecaster(source, target, PAUSE_S)
    port, grpc_port = free_port(), free_port()
    env = {
        "KERASSERVE_MODEL_NAMES": "tiny_forecaster",
        "KERASSERVE_BATCH_SIZES": "1,4,32",
        "KERASSERVE_DRAIN_TIMEOUT_S": "30",
        "KERASSERVE_MAX_QUEUE_SIZE": str(QUEUED * ROWS),
    }
    args = ["--port", str(port), "--grpc-port", str(grpc_port), "--max-queue-delay-s", "0.001"]
    args += ["--max-batch-size", str(BATCH)]
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = start_serve(models_dir, args, env, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process)
        started = time.monotonic()
        queued, answers = asyncio.run(_queue_then_terminate(url, f"127.0.0.1:{grpc_port}", process))
        assert queued > 0, "the backlog cleared before SIGTERM; nothing was drained"
        for answer in answers:
            (forecast,) = answer.raw_output_contents
            assert np.frombuffer(forecast, np.float32).shape == (ROWS * 3,)
        process.wait(timeout=30)
        assert time.monotonic() - started < 30
        assert process.returncode in (0, -signal.SIGTERM)
        text = log_path.read_text()
        assert '"message":"draining"' in text and '"message":"stopped"' in text
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_calls_arriving_after_sigterm_are_answered_until_they_stop(rpc_zoo: Path, tmp_path: Path):
    """REST refuses new work with a replayable 503 from SIGTERM on; a gRPC refusal is not
    replayable, so gRPC answers calls until none came for QUIET_S (at most HANDOFF_S)."""
    from service.rpc.server import HANDOFF_S, QUIET_S

    port, grpc_port = free_port(), free_port()
    args = ["--port", str(port), "--grpc-port", str(grpc_port)]
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = start_serve(rpc_zoo, args, {"KERASSERVE_MODEL_NAMES": "tiny_forecaster"}, log)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        request = _request()
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            stub.ModelInfer(request, timeout=30)
            process.send_signal(signal.SIGTERM)
            terminated = time.monotonic()
            answered = 0
            while time.monotonic() - terminated < HANDOFF_S / 2:
                answer = stub.ModelInfer(request, timeout=30)  # OK, never UNAVAILABLE
                assert len(answer.raw_output_contents) == 1
                answered += 1
                time.sleep(QUIET_S / 5)
            last = time.monotonic()
        assert answered > 0
        process.wait(timeout=30)
        # It stopped once calls stopped coming: not before, and not long after.
        assert time.monotonic() - last < QUIET_S + 10
        assert process.returncode in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
