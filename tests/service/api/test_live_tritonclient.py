"""The KServe V2 routes driven by the real `tritonclient.http` client."""

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from service.card import MNIST_IMAGE
from service.preprocessing.images import prepare_image
from tests.service.api.util import png_bytes
from tests.utils.zoo import FASHION_LABELS

pytestmark = pytest.mark.slow


@pytest.fixture
def client(live):
    connection = triton.InferenceServerClient(url=live.host_port, network_timeout=30)
    yield connection
    connection.close()


def test_server_and_model_status(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["name"] == "kerasserve"
    assert client.is_model_ready("tiny_classifier")
    assert client.is_model_ready("tiny_classifier", model_version="1")
    assert not client.is_model_ready("no_such_model")


def test_model_metadata(client):
    metadata = client.get_model_metadata("tiny_generator")
    assert metadata["versions"] == ["1"]
    inputs = {tensor["name"]: tensor for tensor in metadata["inputs"]}
    assert inputs["noise"] == {"name": "noise", "datatype": "FP32", "shape": [-1, 8]}
    assert inputs["labels"]["datatype"] == "INT32"
    assert metadata["outputs"][0]["shape"] == [-1, 28, 28, 1]


def _series_input(values: np.ndarray, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput("series", list(values.shape), "FP32")
    tensor.set_data_from_numpy(values, binary_data=binary)
    return tensor


@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("binary_out", [True, False])
def test_infer_forecaster(client, binary_in, binary_out):
    series = np.arange(24, dtype=np.float32).reshape(2, 12)
    outputs = [triton.InferRequestedOutput("forecast", binary_data=binary_out)]
    result = client.infer(
        "tiny_forecaster", [_series_input(series, binary_in)], outputs=outputs, request_id="r-1"
    )
    forecast = result.as_numpy("forecast")
    assert forecast.shape == (2, 3) and forecast.dtype == np.float32
    response = result.get_response()
    assert response["id"] == "r-1" and response["model_version"] == "1"


def test_infer_all_outputs_by_default_and_version(client):
    image = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    tensor = triton.InferInput("images", list(image.shape), "FP32")
    tensor.set_data_from_numpy(image)
    result = client.infer("tiny_classifier", [tensor], model_version="1")
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert result.as_numpy("features").shape[0] == 3


def test_infer_generator_with_int_labels(client):
    noise = np.zeros((2, 8), np.float32)
    labels = np.array([1, 2], np.int32)
    inputs = [triton.InferInput("noise", [2, 8], "FP32"), triton.InferInput("labels", [2], "INT32")]
    inputs[0].set_data_from_numpy(noise, binary_data=False)
    inputs[1].set_data_from_numpy(labels, binary_data=False)
    images = client.infer("tiny_generator", inputs).as_numpy("images")
    assert images.shape == (2, 28, 28, 1)


def test_errors_reach_the_client(client):
    series = np.zeros((1, 5), np.float32)
    with pytest.raises(InferenceServerException, match="series"):
        client.infer("tiny_forecaster", [_series_input(series, False)])
    with pytest.raises(InferenceServerException, match="no_such_model"):
        client.get_model_metadata("no_such_model")


def _images_input(images: list[bytes], binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput("images", [len(images)], "BYTES")
    tensor.set_data_from_numpy(np.array(images, dtype=np.object_), binary_data=binary)
    return tensor


def _pixels_input(images: list[bytes]) -> triton.InferInput:
    """The same images prepared here as the zoo's card says, sent as FP32 tensors."""
    pixels = np.stack([prepare_image(data, MNIST_IMAGE).pixels for data in images])
    tensor = triton.InferInput("images", list(pixels.shape), "FP32")
    tensor.set_data_from_numpy(pixels)
    return tensor


def test_bytes_images_with_class_count(client):
    images = [png_bytes(200), png_bytes(40, size=(40, 30), background=230)]
    wanted = [triton.InferRequestedOutput("probabilities", binary_data=True, class_count=3)]
    result = client.infer("tiny_classifier", [_images_input(images)], outputs=wanted)
    top = result.as_numpy("probabilities")
    assert top.shape == (2, 3)
    raw = client.infer("tiny_classifier", [_pixels_input(images)]).as_numpy("probabilities")
    expected = [
        [f"{row[i]:f}:{i}:{FASHION_LABELS[i]}" for i in np.argsort(-row, kind="stable")[:3]]
        for row in raw
    ]
    assert [[item.decode() for item in row] for row in top] == expected


def test_bytes_images_raw_outputs_match_the_tensor_path(client):
    images = [png_bytes(120, size=(56, 56))]
    as_bytes = client.infer("tiny_classifier", [_images_input(images)])
    as_pixels = client.infer("tiny_classifier", [_pixels_input(images)])
    for name in ("probabilities", "features"):
        np.testing.assert_allclose(as_bytes.as_numpy(name), as_pixels.as_numpy(name), rtol=1e-6)


def test_classification_in_json(client):
    series = np.arange(24, dtype=np.float32).reshape(2, 12)
    wanted = [triton.InferRequestedOutput("forecast", binary_data=False, class_count=2)]
    top = client.infer("tiny_forecaster", [_series_input(series, True)], outputs=wanted)
    forecast = client.infer("tiny_forecaster", [_series_input(series, True)]).as_numpy("forecast")
    strings = top.as_numpy("forecast")
    assert strings.shape == (2, 2)
    best = np.argmax(forecast, axis=1)
    assert [row[0].split(":")[1] for row in strings.tolist()] == [str(i) for i in best]


def test_repository_index(client):
    index = client.get_model_repository_index()
    assert {(entry["name"], entry["version"], entry["state"]) for entry in index} == {
        ("tiny_classifier", "1", "READY"),
        ("tiny_forecaster", "1", "READY"),
        ("tiny_generator", "1", "READY"),
    }
    assert {"classification", "model_repository"} <= set(client.get_server_metadata()["extensions"])


def test_bytes_errors_reach_the_client(client):
    with pytest.raises(InferenceServerException, match="takes no encoded images"):
        tensor = triton.InferInput("series", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([png_bytes()], dtype=np.object_))
        client.infer("tiny_forecaster", [tensor])
    with pytest.raises(InferenceServerException, match="not a decodable image"):
        client.infer("tiny_classifier", [_images_input([b"not an image"])])
