"""`--workers 2 --grpc-port N`: every worker serves gRPC on its own SO_REUSEPORT socket
of the same port, and the kernel spreads connections across them, as it does HTTP."""

import signal
import subprocess

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2, service_pb2_grpc

from tests.service.api.live import free_port, start_serve, wait_ready
from tests.utils.processes import (
    ESTABLISHED,
    LISTENING,
    socket_inodes,
    sockets_on,
    wait_listening,
    worker_pids,
)

pytestmark = pytest.mark.slow

CHANNELS = 32


def _forecast_request() -> service_pb2.ModelInferRequest:
    series = np.arange(12, dtype=np.float32).reshape(1, 12)
    request = service_pb2.ModelInferRequest(model_name="tiny_forecaster")
    request.inputs.add(name="series", datatype="FP32", shape=[1, 12])
    request.raw_input_contents.append(series.tobytes())
    return request


def test_two_workers_both_answer_grpc(rpc_zoo, tmp_path):
    port, grpc_port = free_port(), free_port()
    env = {
        "KERASSERVE_MODEL_NAMES": "tiny_forecaster",
        "KERASSERVE_BATCH_SIZES": "1,4",
        "KERASSERVE_MAX_BATCH_SIZE": "4",
    }
    args = ["--port", str(port), "--grpc-port", str(grpc_port), "--workers", "2"]
    with (tmp_path / "server.log").open("wb") as log:
        process = start_serve(rpc_zoo, args, env, log)
    channels: list[grpc.Channel] = []
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, timeout_s=180)
        wait_listening(grpc_port, 2)  # gRPC starts once a worker's models are loaded
        workers = worker_pids(process.pid)
        assert len(workers) == 2
        listening = sockets_on(grpc_port, LISTENING)
        own = [socket_inodes(worker) & listening for worker in workers]
        assert [len(sockets) for sockets in own] == [1, 1] and own[0] != own[1]
        # A local subchannel pool each: channels to one target would share one connection.
        options = [("grpc.use_local_subchannel_pool", 1)]
        for _ in range(CHANNELS):
            channels.append(grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=options))
        for channel in channels:
            answer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
                _forecast_request(), timeout=30
            )
            assert answer.model_name == "tiny_forecaster"
            assert np.frombuffer(answer.raw_output_contents[0], np.float32).shape == (3,)
        served = sockets_on(grpc_port, ESTABLISHED)
        shares = [len(socket_inodes(worker) & served) for worker in workers]
        assert sum(shares) == CHANNELS
        # Spread by the kernel's hash: one worker with none has odds of 1 in 2**31.
        assert min(shares) >= 1, f"connections per worker: {shares}"
    finally:
        for channel in channels:
            channel.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
