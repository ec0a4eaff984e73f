"""The KServe Python SDK's gRPC client (`InferenceGRPCClient`), unchanged, against the
gRPC port of a real server.

The SDK's V2 protos and tritonclient's (which the service serves with) define the same
`inference.*` symbols and cannot be loaded in one process, so the client runs in a
subprocess of the SDK's own venv (`tests/utils/kserve_sdk.py`): the test sends a JSON
job on stdin and reads the decoded answer on stdout.
"""

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from service.card import MNIST_IMAGE
from service.preprocessing.images import prepare_image
from tests.service.api.util import png_bytes
from tests.utils.kserve_sdk import kserve_venv_python

pytestmark = pytest.mark.slow

CLIENT = """
import asyncio, base64, json, sys

import grpc
import numpy as np
from kserve import InferenceGRPCClient, InferInput, InferRequest
from kserve.protocol.infer_type import RequestedOutput


def tensor(spec):
    tensor = InferInput(spec["name"], spec["shape"], spec["datatype"])
    if spec["datatype"] == "BYTES":
        items = [base64.b64decode(item) for item in spec["data"]]
        array = np.array(items, dtype=np.object_).reshape(spec["shape"])
    else:
        array = np.array(spec["data"], dtype=np.float32).reshape(spec["shape"])
    tensor.set_data_from_numpy(array, binary_data=True)
    return tensor


async def main(job):
    client = InferenceGRPCClient(job["url"], timeout=60, retries=2)
    try:
        status = {
            "live": await client.is_server_live(),
            "ready": await client.is_server_ready(),
            "model_ready": await client.is_model_ready(job["model"]),
        }
        outputs = [RequestedOutput(o["name"], o.get("parameters")) for o in job.get("outputs", [])]
        request = InferRequest(
            job["model"], [tensor(spec) for spec in job["inputs"]],
            request_id="kserve-grpc-1", request_outputs=outputs or None,
        )
        response = await client.infer(request)
        answer = {}
        for output in response.outputs:
            array = output.as_numpy()
            if output.datatype == "BYTES":
                data = [x if isinstance(x, str) else x.decode() for x in array.flat]
            else:
                data = array.reshape(-1).tolist()
            answer[output.name] = {"shape": list(output.shape), "data": data}
        return {**status, "model_name": response.model_name, "outputs": answer}
    except grpc.RpcError as error:
        return {"code": error.code().name, "details": error.details()}
    finally:
        await client.close()


print(json.dumps(asyncio.run(main(json.loads(sys.stdin.read())))))
"""


@pytest.fixture(scope="session")
def kserve_python(request: pytest.FixtureRequest) -> Path:
    return kserve_venv_python(request)


def _run(python: Path, job: dict[str, Any]) -> Any:
    done = subprocess.run(
        [str(python), "-c", CLIENT], input=json.dumps(job), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def _rest(url: str, model: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    response = httpx.post(f"{url}/v2/models/{model}/infer", json={"inputs": inputs}, timeout=30)
    assert response.status_code == 200, response.text
    return {output["name"]: output for output in response.json()["outputs"]}


def test_tensor_call_answers_as_rest(rpc_live, kserve_python):
    series = np.arange(24, dtype=np.float32).reshape(2, 12)
    tensor = {"name": "series", "shape": [2, 12], "datatype": "FP32"}
    job = {"url": rpc_live.target, "model": "tiny_forecaster"}
    answer = _run(kserve_python, {**job, "inputs": [{**tensor, "data": series.ravel().tolist()}]})
    assert answer["live"] and answer["ready"] and answer["model_ready"]
    assert answer["model_name"] == "tiny_forecaster"
    expected = _rest(
        rpc_live.http.url, "tiny_forecaster", [{**tensor, "data": series.ravel().tolist()}]
    )
    forecast = answer["outputs"]["forecast"]
    assert forecast["shape"] == [2, 3]
    np.testing.assert_allclose(forecast["data"], expected["forecast"]["data"], rtol=1e-6)


def test_encoded_images_with_classification(rpc_live, kserve_python):
    images = [png_bytes(200), png_bytes(30, size=(36, 28), background=240)]
    job = {
        "url": rpc_live.target,
        "model": "tiny_classifier",
        "inputs": [
            {
                "name": "images",
                "shape": [2],
                "datatype": "BYTES",
                "data": [base64.b64encode(image).decode() for image in images],
            }
        ],
        "outputs": [
            {"name": "features"},
            {"name": "probabilities", "parameters": {"classification": 2}},
        ],
    }
    answer = _run(kserve_python, job)
    pixels = np.stack([prepare_image(image, MNIST_IMAGE).pixels for image in images])
    tensor = {"name": "images", "shape": list(pixels.shape), "datatype": "FP32"}
    expected = _rest(
        rpc_live.http.url, "tiny_classifier", [{**tensor, "data": pixels.ravel().tolist()}]
    )
    features = answer["outputs"]["features"]
    np.testing.assert_allclose(features["data"], expected["features"]["data"], rtol=1e-6)
    top = answer["outputs"]["probabilities"]
    assert top["shape"] == [2, 2]
    assert all(len(item.split(":")) == 3 for item in top["data"])


def test_unknown_model_is_not_found(rpc_live, kserve_python):
    job = {
        "url": rpc_live.target,
        "model": "no_such_model",
        "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}],
    }
    answer = _run(kserve_python, job)
    assert answer["code"] == "NOT_FOUND", answer
