"""SIGTERM to `kerasserve serve` answers every queued request, then exits in time.

The forecaster is the zoo's own behind a fixed pause per batch
(`tests.utils.slow_models`), so the backlog lasts seconds on any machine.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
import numpy as np
import orjson
import pytest

from tests.service.api.live import free_port, wait_ready
from tests.utils.slow_models import batcher_rows, slowed_forecaster, until_submitted

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
QUEUED = 5
BATCH = 32
ROWS = 320  # 10 batches of 32 per request
PAUSE_S = 0.05  # per batch: 50 batches queued are 2.5 s of backlog on any machine


def _infer_body() -> tuple[bytes, dict[str, str]]:
    """A V2 binary request: decoding it is free, so requests queue faster than they run."""
    series = np.tile(np.arange(12, dtype=np.float32), (ROWS, 1))
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "series",
                    "shape": [ROWS, 12],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": series.nbytes},
                }
            ],
            "outputs": [{"name": "forecast", "parameters": {"binary_data": True}}],
        }
    )
    headers = {"Inference-Header-Content-Length": str(len(header))}
    return header + series.tobytes(), headers


def _start(zoo_dir: Path, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """`kerasserve serve` in a subprocess; its log goes to a file (a pipe could fill up)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "KERASSERVE_MODEL_NAMES": "tiny_forecaster",
        "KERASSERVE_POLL_INTERVAL_S": "0",
        "KERASSERVE_BATCH_SIZES": "1,4,32",
        "KERASSERVE_DRAIN_TIMEOUT_S": "30",
        "KERASSERVE_MAX_QUEUE_SIZE": str(QUEUED * ROWS),
    }
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    command += [
        "--models-dir",
        str(zoo_dir),
        "--max-queue-delay-s",
        "0.001",
        "--max-batch-size",
        str(BATCH),
    ]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


async def _queue_then_terminate(
    url: str, process: subprocess.Popen[bytes]
) -> tuple[float, list[httpx.Response]]:
    """Queue QUEUED requests of ROWS rows each, SIGTERM once all sit in the batcher."""
    limits = httpx.Limits(max_connections=QUEUED + 1)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        baseline = sum(batcher_rows((await client.get("/metrics")).text))
        body, headers = _infer_body()
        calls = [
            asyncio.create_task(
                client.post("/v2/models/tiny_forecaster/infer", content=body, headers=headers)
            )
            for _ in range(QUEUED)
        ]
        queued = await until_submitted(client, baseline + QUEUED * ROWS, BATCH)
        process.send_signal(signal.SIGTERM)
        return queued, await asyncio.gather(*calls)


def test_sigterm_drains_queued_requests(zoo_dir, tmp_path):
    models_dir = tmp_path / "models"
    source, target = zoo_dir / "tiny_forecaster" / "1", models_dir / "tiny_forecaster" / "1"
    slowed_forecaster(source, target, PAUSE_S)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    log_file = log_path.open("wb")
    process = _start(models_dir, port, log_file)
    try:
        wait_ready(url, process)
        started = time.monotonic()
        queued, responses = asyncio.run(_queue_then_terminate(url, process))
        assert queued > 0, "the backlog cleared before SIGTERM; nothing was drained"
        assert [r.status_code for r in responses] == [200] * QUEUED, responses[0].text
        assert all(len(r.content) > ROWS * 3 * 4 for r in responses)
        process.wait(timeout=30)
        assert time.monotonic() - started < 30
        assert process.returncode in (0, -signal.SIGTERM)
        log = log_path.read_text()
        assert '"message":"draining"' in log and '"message":"stopped"' in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log_file.close()
