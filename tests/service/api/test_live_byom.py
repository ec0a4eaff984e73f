"""Models people bring, exported with plain `model.export()`, served by a real server.

Each classifier's answer on a real photo is checked against the model's own output on
the tensor Keras itself loads from the same file (`keras.utils.load_img`), so the test
proves the service fed the model what its author fed it, not just that it answered.
"""

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tensorflow as tf
from keras.utils import img_to_array, load_img
from PIL import Image
from sklearn.datasets import load_sample_images

from service.config import Settings
from tests.service.api.conftest import LIVE_SETTINGS
from tests.service.api.live import LiveServer, serve_in_thread
from tests.utils.byom import export_all

TORCH_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
TORCH_STD = np.array([0.229, 0.224, 0.225], np.float32)


@pytest.fixture(scope="module")
def byom_dir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return export_all(tmp_path_factory.mktemp("byom"))


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's real photo of a Chinese temple, shrunk to keep the test quick."""
    china = Image.fromarray(load_sample_images().images[0]).resize((160, 107))
    path = tmp_path_factory.mktemp("photos") / "china.jpg"
    china.save(path, quality=92)
    return path


@pytest.fixture(scope="module")
def server(byom_dir: dict[str, Path]) -> Iterator[LiveServer]:
    models_dir = byom_dir["rgb32"].parents[1]
    with serve_in_thread(Settings(models_dir=models_dir, **LIVE_SETTINGS)) as live:
        yield live


def own_output(version_dir: Path, batch: np.ndarray) -> np.ndarray:
    """The exported model's own answer, through its `serve` endpoint."""
    loaded = tf.saved_model.load(str(version_dir))
    return np.asarray(loaded.serve(tf.constant(batch)))


def classify(server: LiveServer, path: Path, model: str, **query: str) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/classify",
        params={"model": model, "top_k": "10", **query},
        content=path.read_bytes(),
        headers={"Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def scores_by_index(answer: dict[str, Any]) -> np.ndarray:
    ranked = answer["results"][0]["top_k"]
    scores = np.zeros(len(ranked), np.float32)
    for item in ranked:
        scores[item["index"]] = item["score"]
    return scores


def softmax(rows: np.ndarray) -> np.ndarray:
    shifted = np.exp(rows - rows.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def test_every_version_on_disk_is_listed_and_readiness_is_reached(server):
    listed = {m["name"]: m for m in httpx.get(f"{server.url}/v1/models").json()["models"]}
    assert {name: m["state"] for name, m in listed.items()} == {
        "binary": "AVAILABLE",
        "damaged": "FAILED",
        "foreign": "FAILED",
        "gray_uint8": "AVAILABLE",
        "mobilenet": "AVAILABLE",
        "open_size": "AVAILABLE",
        "rgb32": "AVAILABLE",
        "tabular": "AVAILABLE",
        "torch_norm": "AVAILABLE",
    }
    assert "saved_model.pb" in listed["foreign"]["error"]
    assert listed["damaged"]["error"]
    assert listed["tabular"]["card"]["task"] == "predict"
    assert listed["rgb32"]["card"]["labels"] == ["cat", "dog", "fox", "owl"]
    assert listed["gray_uint8"]["card"]["image"]["size"] == [20, 36]
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    index = httpx.post(f"{server.url}/v2/repository/index").json()
    states = {(item["name"], item["state"]) for item in index}
    assert ("damaged", "UNAVAILABLE") in states and ("rgb32", "READY") in states


def test_rgb_model_with_rescaling_inside_matches_keras_loading(server, byom_dir, photo):
    answer = classify(server, photo, "rgb32")
    reference = img_to_array(load_img(photo, target_size=(32, 32), interpolation="bilinear"))[
        np.newaxis
    ]
    expected = own_output(byom_dir["rgb32"], reference)[0]
    np.testing.assert_allclose(scores_by_index(answer), expected, atol=2e-3)
    assert answer["results"][0]["top_k"][0]["label"] in {"cat", "dog", "fox", "owl"}


def test_uint8_non_square_gray_model_gets_softmax_over_its_logits(server, byom_dir, photo):
    answer = classify(server, photo, "gray_uint8")
    loaded = load_img(photo, color_mode="grayscale", target_size=(20, 36), interpolation="bilinear")
    reference = img_to_array(loaded, dtype="uint8")[np.newaxis]
    expected = softmax(own_output(byom_dir["gray_uint8"], reference))[0]
    np.testing.assert_allclose(scores_by_index(answer), expected, atol=2e-3)
    assert abs(scores_by_index(answer).sum() - 1) < 1e-5


def test_keras_applications_network_with_its_preprocessing_inside(server, byom_dir, photo):
    answer = classify(server, photo, "mobilenet")
    reference = img_to_array(load_img(photo, target_size=(96, 96), interpolation="bilinear"))[
        np.newaxis
    ]
    expected = own_output(byom_dir["mobilenet"], reference)[0]
    np.testing.assert_allclose(scores_by_index(answer), expected, atol=2e-3)


def test_partial_card_asks_for_torch_normalisation(server, byom_dir, photo):
    answer = classify(server, photo, "torch_norm")
    pixels = img_to_array(load_img(photo, target_size=(24, 24), interpolation="bilinear")) / 255.0
    reference = ((pixels - TORCH_MEAN) / TORCH_STD)[np.newaxis].astype(np.float32)
    expected = own_output(byom_dir["torch_norm"], reference)[0]
    np.testing.assert_allclose(scores_by_index(answer), expected, atol=2e-3)
    assert {item["label"] for item in answer["top_k"]} == {"red", "green", "blue"}


def test_one_sigmoid_unit_is_a_two_class_classifier(server, byom_dir, photo):
    answer = classify(server, photo, "binary")
    loaded = load_img(photo, color_mode="grayscale", target_size=(24, 24), interpolation="bilinear")
    probability = own_output(byom_dir["binary"], img_to_array(loaded)[np.newaxis])[0, 0]
    by_label = {item["label"]: item["score"] for item in answer["top_k"]}
    assert by_label == pytest.approx({"no": 1 - probability, "yes": probability}, abs=2e-3)


def test_open_spatial_size_is_fixed_by_the_card(server, photo):
    answer = classify(server, photo, "open_size", return_input="true")
    assert len(answer["top_k"]) == 3
    png = answer["results"][0]["input_png_base64"]
    import base64

    seen = Image.open(io.BytesIO(base64.b64decode(png)))
    assert (seen.mode, seen.size) == ("RGB", (30, 40))


def test_tabular_regressor_is_served_as_tensors(server, byom_dir):
    rows = [[0.5, -1.0, 2.0, 3.5], [1.0, 1.0, 1.0, 1.0]]
    expected = own_output(byom_dir["tabular"], np.array(rows, np.float32))
    predicted = httpx.post(
        f"{server.url}/v1/models/tabular:predict", json={"instances": rows}
    ).json()["predictions"]
    np.testing.assert_allclose(predicted, expected, rtol=1e-5)
    body = {"inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32", "data": rows}]}
    v2 = httpx.post(f"{server.url}/v2/models/tabular/infer", json=body).json()
    np.testing.assert_allclose(v2["outputs"][0]["data"], expected.reshape(-1), rtol=1e-5)
    refused = httpx.post(
        f"{server.url}/classify?model=tabular",
        content=b"\x89PNG",
        headers={"Content-Type": "image/png"},
    )
    assert refused.status_code == 422 and "predict model" in refused.json()["detail"]


def test_json_b64_body_and_the_failed_model_answer(server, photo):
    import base64

    body = {"images": [{"b64": base64.b64encode(photo.read_bytes()).decode()}] * 2}
    answer = httpx.post(f"{server.url}/v1/classify?model=rgb32", json=body).json()
    assert len(answer["results"]) == 2
    assert answer["results"][0]["top_k"] == answer["results"][1]["top_k"]
    failed = httpx.post(
        f"{server.url}/classify?model=damaged",
        content=photo.read_bytes(),
        headers={"Content-Type": "image/jpeg"},
    )
    assert failed.status_code == 503 and "FAILED" in failed.json()["detail"]
