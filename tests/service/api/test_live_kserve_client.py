"""The KServe Python SDK's REST client, unchanged, against a real server.

`kserve` pins `pandas<3` and `protobuf<7`; installing it beside the service would
downgrade both in the project's venv. So it gets a venv of its own, built once per
machine (`tests/utils/kserve_sdk.py`), and each call runs `InferenceRESTClient` in a
subprocess of that venv (`CLIENT` below): the test sends a small JSON job on stdin
and reads the decoded response on stdout.

Besides the zoo (`live`), a second server serves what a user brings: a plain
`model.export()` of a 32x32 RGB classifier with `Rescaling(1/255)` inside and no card,
and a damaged version that must be refused with its reason without holding readiness.
"""

import base64
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import keras
import numpy as np
import pytest
from PIL import Image

from service.card import MNIST_IMAGE, ImageSpec
from service.config import Settings
from service.preprocessing.images import prepare_image
from service.runtime.spec import resolve_image
from service.runtime.tensors import TensorInfo
from tests.service.api.conftest import LIVE_SETTINGS
from tests.service.api.live import LiveServer, serve_in_thread
from tests.service.api.util import png_bytes
from tests.utils.kserve_sdk import kserve_venv_python
from tests.utils.zoo import FASHION_LABELS

pytestmark = pytest.mark.slow

PLAIN, PLAIN_INPUT, PLAIN_OUTPUT = "plain_rgb", "picture", "output_0"

CLIENT = """
import asyncio, base64, json, sys

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


def tensor(spec):
    tensor = InferInput(spec["name"], spec["shape"], spec["datatype"])
    if spec["datatype"] == "BYTES":
        items = [base64.b64decode(item) for item in spec["data"]]
        array = np.array(items, dtype=np.object_).reshape(spec["shape"])
    else:
        array = np.array(spec["data"], dtype=spec["dtype"]).reshape(spec["shape"])
    tensor.set_data_from_numpy(array, binary_data=spec["binary"])
    return tensor


def decoded(output):
    array = output.as_numpy()
    if output.datatype == "BYTES":
        return [item if isinstance(item, str) else item.decode() for item in array.flat]
    return array.reshape(-1).tolist()


async def v2(client, job):
    outputs = [RequestedOutput(o["name"], o.get("parameters")) for o in job.get("outputs", [])]
    request = InferRequest(
        job["model"],
        [tensor(spec) for spec in job["inputs"]],
        request_id=job.get("id"),
        request_outputs=outputs or None,
        parameters=job.get("parameters"),
    )
    response = await client.infer(job["url"], request, model_name=job["model"])
    return {
        "id": response.id,
        "model_name": response.model_name,
        "ready": await client.is_model_ready(job["url"], job["model"]),
        "outputs": {
            o.name: {"datatype": o.datatype, "shape": list(o.shape), "data": decoded(o)}
            for o in response.outputs
        },
    }


async def main(job):
    client = InferenceRESTClient(RESTConfig(protocol=job["protocol"], retries=1, timeout=60))
    try:
        if job["protocol"] == "v1":
            return await client.infer(job["url"], job["body"], model_name=job["model"])
        return await v2(client, job)
    except httpx.HTTPStatusError as exc:
        return {"status": exc.response.status_code, "body": exc.response.json()}
    finally:
        await client.close()


print(json.dumps(asyncio.run(main(json.loads(sys.stdin.read())))))
"""


@pytest.fixture(scope="session")
def kserve_python(request: pytest.FixtureRequest) -> Path:
    """The Python of a venv holding only the KServe SDK (and what it pulls in)."""
    return kserve_venv_python(request)


@pytest.fixture
def kserve(kserve_python: Path):
    """Run one job through the KServe SDK; returns the decoded answer."""

    def run(job: dict[str, Any]) -> Any:
        done = subprocess.run(
            [str(kserve_python), "-c", CLIENT],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.splitlines()[-1])

    return run


def export_plain_classifier(models_dir: Path) -> Path:
    """What a user brings: `model.export()` of a small RGB classifier, no card."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((32, 32, 3), name=PLAIN_INPUT)
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, activation="softmax")(x)
    version_dir = models_dir / PLAIN / "1"
    keras.Model(inputs, outputs).export(str(version_dir), verbose=False)
    return version_dir


def write_damaged_version(models_dir: Path) -> None:
    version_dir = models_dir / "damaged" / "1"
    (version_dir / "variables").mkdir(parents=True)
    (version_dir / "saved_model.pb").write_bytes(b"\x00 not a protobuf")
    (version_dir / "variables" / "variables.index").write_bytes(b"nor an index")


@pytest.fixture(scope="module")
def byom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models_dir = tmp_path_factory.mktemp("byom")
    export_plain_classifier(models_dir)
    write_damaged_version(models_dir)
    with serve_in_thread(Settings(models_dir=models_dir, **LIVE_SETTINGS)) as server:
        yield server


def photo_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """A smooth RGB picture (gradients), larger than the model's input and not square."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.stack([xs * 255 // width, ys * 255 // height, (xs + ys) * 127 // (width + height)])
    buffer = io.BytesIO()
    Image.fromarray(pixels.transpose(1, 2, 0).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def plain_spec() -> ImageSpec:
    """The plain model's spec as the service resolves it from the signature alone."""
    return resolve_image(ImageSpec(), PLAIN_INPUT, TensorInfo("float32", (None, 32, 32, 3)))


def v2_json(server: LiveServer, model: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/v2/models/{model}/infer", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    return {output["name"]: output for output in response.json()["outputs"]}


def test_tensor_request(live, kserve):
    series = np.arange(24, dtype=np.float32).reshape(2, 12)
    tensor = {"name": "series", "shape": [2, 12], "datatype": "FP32", "dtype": "float32"}
    job = {"protocol": "v2", "url": live.url, "model": "tiny_forecaster", "id": "k-1"}
    for binary in (True, False):
        inputs = [{**tensor, "data": series.reshape(-1).tolist(), "binary": binary}]
        answer = kserve({**job, "inputs": inputs, "parameters": {"binary_data_output": binary}})
        assert answer["id"] == "k-1" and answer["model_name"] == "tiny_forecaster"
        assert answer["ready"] is True
        forecast = answer["outputs"]["forecast"]
        expected = v2_json(live, "tiny_forecaster", [{**tensor, "data": inputs[0]["data"]}])
        assert forecast["shape"] == [2, 3] and forecast["datatype"] == "FP32"
        np.testing.assert_allclose(forecast["data"], expected["forecast"]["data"], rtol=1e-6)


def test_bytes_image_request_on_the_zoo(live, kserve):
    images = [png_bytes(200), png_bytes(30, size=(36, 28), background=240)]
    bytes_input = {"name": "images", "shape": [2], "datatype": "BYTES", "binary": True}
    job = {
        "protocol": "v2",
        "url": live.url,
        "model": "tiny_classifier",
        "inputs": [{**bytes_input, "data": [b64(data) for data in images]}],
        "outputs": [
            {"name": "features"},
            {"name": "probabilities", "parameters": {"classification": 2}},
        ],
    }
    answer = kserve(job)
    pixels = np.stack([prepare_image(data, MNIST_IMAGE).pixels for data in images])
    tensor = {"name": "images", "shape": list(pixels.shape), "datatype": "FP32"}
    expected = v2_json(live, "tiny_classifier", [{**tensor, "data": pixels.reshape(-1).tolist()}])
    features = answer["outputs"]["features"]
    np.testing.assert_allclose(features["data"], expected["features"]["data"], rtol=1e-6)
    top = answer["outputs"]["probabilities"]
    assert top["datatype"] == "BYTES" and top["shape"] == [2, 2]
    rows = np.reshape(expected["probabilities"]["data"], (2, 10))
    assert top["data"] == [
        f"{row[i]:f}:{i}:{FASHION_LABELS[i]}"
        for row in rows
        for i in np.argsort(-row, kind="stable")[:2]
    ]


def test_bytes_image_request_uses_the_model_own_spec(byom, kserve, tmp_path):
    photo = photo_png()
    job = {"protocol": "v2", "url": byom.url, "model": PLAIN}
    binary = {"name": "image_bytes", "shape": [1], "datatype": "BYTES", "binary": True}
    as_binary = kserve({**job, "inputs": [{**binary, "data": [b64(photo)]}]})
    # In JSON, BYTES elements are text, so the image travels as base64 text.
    text = {**binary, "shape": [1, 1], "binary": False, "data": [b64(b64(photo).encode())]}
    as_text = kserve({**job, "inputs": [text]})
    pixels = prepare_image(photo, plain_spec()).pixels
    assert pixels.shape == (32, 32, 3) and pixels.max() > 1.0  # raw 0..255: Rescaling inside
    tensor = {"name": PLAIN_INPUT, "shape": [1, 32, 32, 3], "datatype": "FP32"}
    expected = v2_json(byom, PLAIN, [{**tensor, "data": pixels.reshape(-1).tolist()}])
    for answer in (as_binary, as_text):
        scores = answer["outputs"][PLAIN_OUTPUT]
        assert scores["shape"] == [1, 5]
        np.testing.assert_allclose(scores["data"], expected[PLAIN_OUTPUT]["data"], rtol=1e-6)
    # The spec agrees with Keras's own loader (PIL bilinear, stretched to the size).
    path = tmp_path / "photo.png"
    path.write_bytes(photo)
    keras_pixels = keras.utils.img_to_array(keras.utils.load_img(path, target_size=(32, 32)))
    assert np.abs(keras_pixels - pixels).mean() <= 2.0


def test_bytes_on_a_model_without_images(live, kserve):
    job = {
        "protocol": "v2",
        "url": live.url,
        "model": "tiny_forecaster",
        "inputs": [
            {"name": "series", "shape": [1], "datatype": "BYTES", "binary": True, "data": ["AA=="]}
        ],
    }
    answer = kserve(job)
    assert answer["status"] == 422
    assert "takes no encoded images" in answer["body"]["detail"]


@pytest.mark.parametrize("model", ["tiny_classifier", PLAIN])
def test_tfserving_b64_instances(live, byom, kserve, model):
    """The documented TF Serving form, sent by the KServe SDK's V1 (TF Serving) client."""
    server = live if model == "tiny_classifier" else byom
    image = photo_png((40, 40))
    body = {"instances": [{"b64": b64(image)}, {"b64": b64(png_bytes())}]}
    answer = kserve({"protocol": "v1", "url": server.url, "model": model, "body": body})
    spec = MNIST_IMAGE if model == "tiny_classifier" else plain_spec()
    pixels = np.stack([prepare_image(data, spec).pixels for data in (image, png_bytes())])
    tensors = httpx.post(
        f"{server.url}/v1/models/{model}:predict", json={"instances": pixels.tolist()}
    ).json()
    predictions = answer["predictions"]
    if model == "tiny_classifier":  # two outputs: one object per instance
        assert {"probabilities", "features"} <= set(predictions[0])
        predictions = [row["probabilities"] for row in predictions]
        tensors["predictions"] = [row["probabilities"] for row in tensors["predictions"]]
    np.testing.assert_allclose(predictions, tensors["predictions"], rtol=1e-6)
    named = {"instances": [{PLAIN_INPUT: {"b64": b64(image)}}]}
    if model == PLAIN:
        response = httpx.post(f"{server.url}/v1/models/{model}:predict", json=named)
        np.testing.assert_allclose(response.json()["predictions"][0], predictions[0], rtol=1e-6)


def test_damaged_version_is_refused_with_its_reason(byom):
    assert httpx.get(f"{byom.url}/v2/health/ready").status_code == 200
    index = httpx.post(f"{byom.url}/v2/repository/index").json()
    entries = {entry["name"]: entry for entry in index}
    assert entries[PLAIN] == {"name": PLAIN, "version": "1", "state": "READY", "reason": ""}
    damaged = entries["damaged"]
    assert damaged["state"] == "UNAVAILABLE" and damaged["version"] == "1"
    assert damaged["reason"]
    response = httpx.get(f"{byom.url}/v2/models/damaged")
    assert response.status_code == 503
    assert damaged["reason"] in response.json()["detail"]
    ready_only = httpx.post(f"{byom.url}/v2/repository/index", json={"ready": True}).json()
    assert [entry["name"] for entry in ready_only] == [PLAIN]


def test_plain_model_metadata_shows_its_real_tensors(byom):
    metadata = httpx.get(f"{byom.url}/v2/models/{PLAIN}").json()
    assert metadata["inputs"] == [
        {"name": PLAIN_INPUT, "datatype": "FP32", "shape": [-1, 32, 32, 3]}
    ]
    assert metadata["outputs"] == [{"name": PLAIN_OUTPUT, "datatype": "FP32", "shape": [-1, 5]}]
