"""The real server over real tiny SavedModels, spoken to over a socket with httpx."""

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from tests.service.api.util import assert_problem, png_bytes
from tests.utils.zoo import FASHION_LABELS

pytestmark = pytest.mark.slow


@pytest.fixture
def http(live):
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def test_live_health_ready_and_models(http):
    assert http.get("/healthz").status_code == 200
    ready = http.get("/readyz").json()
    assert ready["models"] == {
        "tiny_classifier": [1],
        "tiny_forecaster": [1],
        "tiny_generator": [1],
    }
    models = {m["name"]: m for m in http.get("/v1/models").json()["models"]}
    assert models["tiny_classifier"]["state"] == "AVAILABLE"
    assert models["tiny_classifier"]["device"]
    assert models["tiny_forecaster"]["card"]["task_params"]["window"] == 12


def test_live_classify_raw_and_multipart(http):
    raw = http.post(
        "/v1/classify",
        params={"model": "tiny_classifier", "top_k": 10},
        content=png_bytes(),
        headers={"Content-Type": "image/png"},
    )
    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert body["version"] == 1 and len(body["top_k"]) == 10
    assert {entry["label"] for entry in body["top_k"]} == set(FASHION_LABELS)
    assert sum(entry["score"] for entry in body["top_k"]) == pytest.approx(1.0, abs=1e-4)
    files = [("file", (f"{i}.png", png_bytes(value=50 * i), "image/png")) for i in range(1, 4)]
    multi = http.post("/v1/classify", files=files)  # the only classifier: model may be omitted
    assert [r["filename"] for r in multi.json()["results"]] == ["1.png", "2.png", "3.png"]


def test_live_sequence_predict(http):
    series = [float(v) for v in range(20)]
    body = http.post(
        "/v1/sequence/predict", json={"model": "tiny_forecaster", "series": series}
    ).json()
    assert (body["window"], body["horizon"], body["recursive"]) == (12, 3, False)
    assert len(body["forecast"]) == 3
    longer = http.post("/v1/sequence/predict", json={"series": series, "horizon": 8}).json()
    assert longer["recursive"] is True and len(longer["forecast"]) == 8
    assert longer["forecast"][:3] == pytest.approx(body["forecast"], rel=1e-5)


def test_live_generate_is_deterministic(http):
    params = {"model": "tiny_generator", "n": 4, "seed": 123}
    first, second = http.get("/v1/generate", params=params), http.get("/v1/generate", params=params)
    assert first.headers["content-type"] == "image/png"
    assert first.content == second.content
    other = http.get("/v1/generate", params={**params, "seed": 124})
    assert other.content != first.content
    body = http.get("/v1/generate", params={**params, "format": "json", "label": 3}).json()
    assert [image["label"] for image in body["images"]] == [3, 3, 3, 3]
    image = Image.open(io.BytesIO(base64.b64decode(body["images"][0]["png_base64"])))
    assert image.size == (28, 28) and image.mode == "L"


def test_live_tfserving_routes(http):
    status = http.get("/v1/models/tiny_forecaster").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    metadata = http.get("/v1/models/tiny_classifier/versions/1/metadata").json()
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert set(signature["outputs"]) == {"probabilities", "logits", "features"}
    rows = http.post(
        "/v1/models/tiny_forecaster:predict", json={"instances": [list(range(12))] * 2}
    )
    predictions = np.asarray(rows.json()["predictions"])
    assert predictions.shape == (2, 3)
    columns = http.post(
        "/v1/models/tiny_forecaster/versions/1:predict",
        json={"inputs": {"series": [list(range(12))]}},
    )
    np.testing.assert_allclose(columns.json()["outputs"], predictions[:1], rtol=1e-5)
    image = np.zeros((28, 28, 1)).tolist()
    multi = http.post("/v1/models/tiny_classifier:predict", json={"instances": [image]}).json()
    assert len(multi["predictions"][0]["probabilities"]) == 10


def test_live_error_cases(http):
    png = {"Content-Type": "image/png"}
    assert_problem(
        http.post("/v1/classify", content=b"garbage", headers=png), 400, "undecodable_image"
    )
    assert_problem(http.get("/v1/models/nope/metadata"), 404, "model_not_found")
    assert_problem(http.get("/v2/models/tiny_classifier/versions/9"), 404, "version_not_found")
    assert_problem(http.get("/no/such/route"), 404, "not_found")
    big = http.post("/v1/classify", content=b"x" * 300_000, headers=png)
    assert_problem(big, 413, "body_too_large")
    gif_as_text = http.post("/v1/classify", content=b"abc", headers={"Content-Type": "text/plain"})
    assert_problem(gif_as_text, 415, "unsupported_media_type")
    short = http.post("/v1/sequence/predict", json={"series": [1.0, 2.0]})
    assert_problem(short, 422, "invalid_request")
    wrong_shape = http.post("/v1/models/tiny_forecaster:predict", json={"instances": [[1.0, 2.0]]})
    assert_problem(wrong_shape, 422, "invalid_input")


def test_live_metrics_exposition_parses(http):
    http.get("/v1/generate", params={"n": 2, "seed": 1})
    text = http.get("/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for name in (
        "kerasserve_requests",
        "kerasserve_request_duration_seconds",
        "kerasserve_inference_duration_seconds",
        "kerasserve_batch_size",
        "kerasserve_queue_wait_seconds",
        "kerasserve_queue_depth",
        "kerasserve_model_loaded",
        "kerasserve_model_version",
        "kerasserve_model_load_seconds",
        "kerasserve_images_generated",
    ):
        assert name in families, name
    assert families["kerasserve_request_duration_seconds"].type == "histogram"
    loaded = {s.labels["model"]: s.value for s in families["kerasserve_model_loaded"].samples}
    assert loaded == {"tiny_classifier": 1, "tiny_forecaster": 1, "tiny_generator": 1}
