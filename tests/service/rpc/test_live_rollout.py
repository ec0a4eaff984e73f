"""Version labels and the traffic split reach gRPC callers through the same resolver as REST:
`ModelSpec.version_label`, and `x-kerasserve-route-key` metadata for sticky routing."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
import tritonclient.grpc as triton
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from service.config import Settings
from tests.service.api.live import free_port, serve_in_thread
from tests.service.rpc.conftest import RPC_SETTINGS

pytestmark = pytest.mark.slow

NAME = "tiny_forecaster"
SPLIT = {"version_labels": {"stable": 1, "canary": 2}, "traffic": {"stable": 50, "canary": 50}}


@pytest.fixture(scope="module")
def labelled(rpc_zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two versions of the forecaster behind labels and a 50/50 split; the gRPC target."""
    models_dir = tmp_path_factory.mktemp("labelled")
    shutil.copytree(rpc_zoo / NAME / "1", models_dir / NAME / "1")
    shutil.copytree(rpc_zoo / NAME / "1", models_dir / NAME / "2")
    (models_dir / NAME / "versions.json").write_text(json.dumps(SPLIT))
    port = free_port()
    settings = Settings(models_dir=models_dir, grpc_port=port, **RPC_SETTINGS)
    with serve_in_thread(settings):
        yield f"127.0.0.1:{port}"


def _predict(target: str, *, label: str = "", version: int | None = None, key: str = "") -> int:
    """The version that answered one TF Serving Predict."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = NAME
    request.model_spec.version_label = label
    if version is not None:
        request.model_spec.version.value = version
    series = np.arange(12, dtype=np.float32).reshape(1, 12)
    request.inputs["series"].CopyFrom(tf.make_tensor_proto(series))
    metadata = (("x-kerasserve-route-key", key),) if key else ()
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=30, metadata=metadata)
    return int(response.model_spec.version.value)


def test_a_version_label_picks_its_version(labelled):
    assert {_predict(labelled, label="canary") for _ in range(8)} == {2}
    assert {_predict(labelled, label="stable") for _ in range(8)} == {1}


def test_an_unknown_label_is_not_found_and_an_explicit_version_beats_the_split(labelled):
    with pytest.raises(grpc.RpcError) as unknown:
        _predict(labelled, label="nightly")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nightly" in unknown.value.details()
    # `version` and `version_label` are one `oneof` in ModelSpec: a message cannot hold both.
    assert {_predict(labelled, version=2) for _ in range(8)} == {2}


def test_the_split_reaches_grpc_and_a_route_key_keeps_a_caller_on_one_version(labelled):
    unkeyed = {_predict(labelled) for _ in range(40)}
    assert unkeyed == {1, 2}  # 50/50: both appear in 40 calls but for odds of 2 in 10^12
    for key in ("alice", "bob", "carol"):
        assert len({_predict(labelled, key=key) for _ in range(10)}) == 1


def test_v2_infer_follows_the_route_key(labelled):
    client = triton.InferenceServerClient(labelled)
    series = triton.InferInput("series", [1, 12], "FP32")
    series.set_data_from_numpy(np.arange(12, dtype=np.float32).reshape(1, 12))

    def version(key: str) -> str:
        headers = {"x-kerasserve-route-key": key}
        result = client.infer(NAME, [series], headers=headers, client_timeout=30)
        return str(result.get_response().model_version)

    for key in ("dave", "erin"):
        assert len({version(key) for _ in range(10)}) == 1
    client.close()
