"""The API key over gRPC: `authorization: Bearer <key>` metadata; health stays open."""

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr
from tritonclient.utils import InferenceServerException

from service.config import Settings
from tests.service.api.live import free_port, serve_in_thread
from tests.service.rpc.conftest import RPC_SETTINGS

pytestmark = pytest.mark.slow

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def target(rpc_zoo):
    port = free_port()
    settings = Settings(models_dir=rpc_zoo, grpc_port=port, api_key=SecretStr(KEY), **RPC_SETTINGS)
    with serve_in_thread(settings):
        yield f"127.0.0.1:{port}"


def _series():
    tensor = triton.InferInput("series", [1, 12], "FP32")
    tensor.set_data_from_numpy(np.ones((1, 12), np.float32))
    return [tensor]


@pytest.mark.parametrize(
    "headers", [None, {"authorization": "Bearer wrong"}, {"authorization": KEY}]
)
def test_missing_or_wrong_key_is_unauthenticated(target, headers):
    client = triton.InferenceServerClient(url=target)
    with pytest.raises(InferenceServerException) as refused:
        client.infer("tiny_forecaster", _series(), headers=headers)
    assert refused.value.status() == "StatusCode.UNAUTHENTICATED"
    client.close()


def test_the_key_opens_inference_and_health_needs_none(target):
    client = triton.InferenceServerClient(url=target)
    answer = client.infer("tiny_forecaster", _series(), headers={"authorization": f"Bearer {KEY}"})
    assert answer.as_numpy("forecast").shape == (1, 3)
    assert client.is_server_ready() and client.is_server_live()
    client.close()
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
    assert status == health_pb2.HealthCheckResponse.SERVING
