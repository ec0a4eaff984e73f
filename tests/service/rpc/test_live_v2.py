"""KServe V2 over gRPC, driven by the real `tritonclient.grpc` client."""

import queue
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from service.card import MNIST_IMAGE
from service.preprocessing.images import prepare_image
from tests.service.api.util import png_bytes
from tests.utils.zoo import FASHION_LABELS

pytestmark = pytest.mark.slow


@pytest.fixture
def client(rpc_live):
    connection = triton.InferenceServerClient(url=rpc_live.target)
    yield connection
    connection.close()


def _input(name, array, datatype):
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def _images(images):
    return _input("images", np.array(images, dtype=np.object_), "BYTES")


def test_server_and_model_status(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata.name == "kerasserve"
    assert "classification" in metadata.extensions
    assert client.is_model_ready("tiny_classifier")
    assert client.is_model_ready("tiny_classifier", model_version="1")
    assert not client.is_model_ready("tiny_classifier", model_version="7")
    assert not client.is_model_ready("no_such_model")


def test_model_metadata_config_and_index(client):
    metadata = client.get_model_metadata("tiny_generator", as_json=True)
    assert metadata["versions"] == ["1"]
    inputs = {tensor["name"]: tensor for tensor in metadata["inputs"]}
    assert inputs["noise"] == {"name": "noise", "datatype": "FP32", "shape": ["-1", "8"]}
    config = client.get_model_config("tiny_generator", as_json=True)["config"]
    assert config["max_batch_size"] == 32
    dims = {tensor["name"]: tensor.get("dims", []) for tensor in config["input"]}
    assert dims == {"noise": ["8"], "labels": []}
    index = client.get_model_repository_index(as_json=True)["models"]
    assert {(entry["name"], entry["state"]) for entry in index} >= {("tiny_classifier", "READY")}


def test_infer_fp32_equals_rest_v2(client, rpc_live):
    series = np.arange(24, dtype=np.float32).reshape(2, 12)
    result = client.infer("tiny_forecaster", [_input("series", series, "FP32")], request_id="r-7")
    forecast = result.as_numpy("forecast")
    assert forecast.shape == (2, 3) and forecast.dtype == np.float32
    assert result.get_response().id == "r-7"
    body = {"inputs": [{"name": "series", "shape": [2, 12], "datatype": "FP32",
                        "data": series.reshape(-1).tolist()}]}  # fmt: skip
    rest = httpx.post(f"{rpc_live.http.url}/v2/models/tiny_forecaster/infer", json=body).json()
    np.testing.assert_array_equal(forecast.reshape(-1), np.float32(rest["outputs"][0]["data"]))


def test_bytes_png_images_with_class_count(client):
    images = [png_bytes(200), png_bytes(40, size=(40, 30), background=230)]
    wanted = [triton.InferRequestedOutput("probabilities", class_count=3)]
    top = client.infer("tiny_classifier", [_images(images)], outputs=wanted).as_numpy(
        "probabilities"
    )
    assert top.shape == (2, 3)
    pixels = np.stack([prepare_image(data, MNIST_IMAGE).pixels for data in images])
    raw = client.infer("tiny_classifier", [_input("images", pixels, "FP32")]).as_numpy(
        "probabilities"
    )
    expected = [
        [f"{row[i]:f}:{i}:{FASHION_LABELS[i]}" for i in np.argsort(-row, kind="stable")[:3]]
        for row in raw
    ]
    assert [[item.decode() for item in row] for row in top] == expected


def test_concurrent_png_calls_batch_together_and_a_broken_png_fails_alone(client):
    """Calls in flight at once meet in one batch, whose images are prepared together
    where it runs; the call with the broken PNG gets its own INVALID_ARGUMENT and the
    others the answers their images get alone."""
    images = [png_bytes(60 + 20 * index) for index in range(8)]
    broken = images[0][:40]  # a PNG cut short
    done: queue.Queue[tuple[int, Any, Any]] = queue.Queue()
    for index, data in enumerate([*images, broken]):
        client.async_infer(
            "tiny_classifier",
            [_images([data])],
            callback=lambda result, error, index=index: done.put((index, result, error)),
        )
    answers = {
        index: (result, error) for index, result, error in (done.get(timeout=30) for _ in range(9))
    }
    alone = np.stack([prepare_image(data, MNIST_IMAGE).pixels for data in images])
    expected = client.infer("tiny_classifier", [_input("images", alone, "FP32")]).as_numpy(
        "probabilities"
    )
    for index in range(8):
        result, error = answers[index]
        assert error is None
        np.testing.assert_allclose(
            result.as_numpy("probabilities")[0], expected[index], rtol=1e-5, atol=1e-6
        )
    _, error = answers[8]
    assert error is not None and error.status() == "StatusCode.INVALID_ARGUMENT"
    assert "image" in error.message().lower()


def test_generator_with_int_labels(client):
    inputs = [
        _input("noise", np.zeros((2, 8), np.float32), "FP32"),
        _input("labels", np.array([1, 2], np.int32), "INT32"),
    ]
    assert client.infer("tiny_generator", inputs).as_numpy("images").shape == (2, 28, 28, 1)


def test_async_infer(client):
    done: queue.Queue[tuple[Any, Any]] = queue.Queue()
    series = np.ones((1, 12), np.float32)
    for _ in range(4):
        client.async_infer(
            "tiny_forecaster",
            [_input("series", series, "FP32")],
            callback=lambda result, error: done.put((result, error)),
        )
    answers = [done.get(timeout=30) for _ in range(4)]
    assert all(error is None for _, error in answers)
    assert {result.as_numpy("forecast").shape for result, _ in answers} == {(1, 3)}


def test_stream_infer_answers_every_request_and_errors_in_band(client):
    done: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client.start_stream(callback=lambda result, error: done.put((result, error)))
    try:
        for i in range(5):
            series = np.full((1, 12), i, np.float32)
            client.async_stream_infer(
                "tiny_forecaster", [_input("series", series, "FP32")], request_id=str(i)
            )
        client.async_stream_infer(
            "tiny_forecaster", [_input("series", np.ones((1, 5), np.float32), "FP32")]
        )
        answers = [done.get(timeout=30) for _ in range(6)]
    finally:
        client.stop_stream()
    ids = sorted(result.get_response().id for result, error in answers if error is None)
    assert ids == ["0", "1", "2", "3", "4"]
    errors = [error for _, error in answers if error is not None]
    assert len(errors) == 1 and "series" in str(errors[0])


def test_six_megabyte_request(client):
    rows = np.random.default_rng(0).random((2048, 28, 28, 1), dtype=np.float32)  # 6.4 MB
    result = client.infer("tiny_classifier", [_input("images", rows, "FP32")])
    assert result.as_numpy("probabilities").shape == (2048, 10)


def test_unknown_model_is_not_found_and_wrong_shape_invalid(client):
    with pytest.raises(InferenceServerException) as unknown:
        client.get_model_metadata("no_such_model")
    assert unknown.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as wrong:
        client.infer("tiny_forecaster", [_input("series", np.ones((1, 5), np.float32), "FP32")])
    assert wrong.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "series" in wrong.value.message()


def test_statistics_count_the_batches_run(client):
    client.infer("tiny_forecaster", [_input("series", np.ones((3, 12), np.float32), "FP32")])
    stats = client.get_inference_statistics("tiny_forecaster", as_json=True)["model_stats"][0]
    assert int(stats["inference_count"]) >= 3 and int(stats["execution_count"]) >= 1
