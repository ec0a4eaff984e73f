"""TF Serving's REST API: status, metadata, predict (rows, columns, `{"b64": ...}` images)."""

import numpy as np
import pytest

from tests.fakes.models import FakeStatus
from tests.service.api.protocol_data import DIM, IMAGE, SQUARE, b64, prepared_batch
from tests.service.api.util import assert_problem


def test_tfserving_status_and_version_status(client, fake_repo):
    fake_repo.failed.append(FakeStatus("clf", 2, "FAILED", None, "bad signature", None, None))
    body = client.get("/v1/models/clf").json()
    assert body["model_version_status"] == [
        {
            "version": "2",
            "state": "END",
            "status": {"error_code": "UNKNOWN", "error_message": "bad signature"},
        },
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
    ]
    one = client.get("/v1/models/clf/versions/1").json()["model_version_status"]
    assert [entry["version"] for entry in one] == ["1"]
    assert_problem(client.get("/v1/models/clf/versions/5"), 404, "version_not_found")
    assert_problem(client.get("/v1/models/zzz"), 404, "model_not_found")


def test_tfserving_metadata(client):
    body = client.get("/v1/models/gen/metadata").json()
    assert body["model_spec"] == {"name": "gen", "signature_name": "", "version": "1"}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    noise = signature["inputs"]["noise"]
    assert noise["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in noise["tensor_shape"]["dim"]] == ["-1", "8"]
    assert signature["inputs"]["labels"]["dtype"] == "DT_INT32"
    assert client.get("/v1/models/gen/versions/1/metadata").json() == body


def test_tfserving_predict_row_format_single_and_multi_output(client):
    single = client.post("/v1/models/fc:predict", json={"instances": [[1, 2, 3, 4], [0, 0, 0, 1]]})
    assert single.json() == {"predictions": [[5.0, 5.0, 5.0], [2.0, 2.0, 2.0]]}
    multi = client.post("/v1/models/clf/versions/1:predict", json={"instances": [IMAGE]}).json()
    assert set(multi["predictions"][0]) == {"probabilities", "logits", "features"}
    named = client.post(
        "/v1/models/gen:predict", json={"instances": [{"noise": [0] * 8, "labels": 3}]}
    )
    assert np.asarray(named.json()["predictions"]).shape == (1, 28, 28, 1)


def test_tfserving_predict_columnar_format(client):
    single = client.post("/v1/models/fc:predict", json={"inputs": [[1, 2, 3, 4]]}).json()
    assert single == {"outputs": [[5.0, 5.0, 5.0]]}
    named = client.post("/v1/models/fc:predict", json={"inputs": {"series": [[1, 2, 3, 4]]}}).json()
    assert named == single
    multi = client.post("/v1/models/clf:predict", json={"inputs": {"images": [IMAGE]}}).json()
    assert set(multi["outputs"]) == {"probabilities", "logits", "features"}


@pytest.mark.parametrize(
    "payload",
    [
        {"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]},
        {},
        {"instances": []},
        {"instances": [[1, 2], [1, 2, 3]]},
        {"instances": [{"noise": [0] * 8}]},
        {"signature_name": "other", "instances": [[1, 2, 3, 4]]},
        {"inputs": {"nope": [[1]]}},
    ],
)
def test_tfserving_predict_rejects_bad_requests(client, payload):
    model = "gen" if "noise" in str(payload) else "fc"
    assert_problem(client.post(f"/v1/models/{model}:predict", json=payload), 422, "invalid_request")


def test_tfserving_predict_not_json(client):
    response = client.post("/v1/models/fc:predict", content=b"{not json")
    assert_problem(response, 422, "invalid_request")


@pytest.mark.parametrize(
    "payload",
    [
        {"instances": [{"b64": b64(SQUARE)}, {"b64": b64(DIM)}]},
        {"instances": [{"images": {"b64": b64(SQUARE)}}, {"images": {"b64": b64(DIM)}}]},
        {"instances": [{"b64": b64(SQUARE)}, {"images": {"b64": b64(DIM)}}]},
    ],
    ids=["bare", "named", "mixed"],
)
def test_tfserving_b64_instances_go_through_the_model_preprocessing(client, clf, payload):
    tensors = client.post(
        "/v1/models/clf:predict", json={"instances": prepared_batch(clf, SQUARE, DIM).tolist()}
    )
    images = client.post("/v1/models/clf:predict", json=payload)
    assert images.status_code == 200, images.text
    np.testing.assert_array_equal(clf.calls[-1]["images"], prepared_batch(clf, SQUARE, DIM))
    assert clf.calls[-1]["images"].dtype == np.float32
    assert images.json() == tensors.json()
    assert set(images.json()["predictions"][0]) == {"probabilities", "logits", "features"}


@pytest.mark.parametrize(
    "payload",
    [{"inputs": [{"b64": b64(SQUARE)}]}, {"inputs": {"images": [{"b64": b64(SQUARE)}]}}],
    ids=["list", "named"],
)
def test_tfserving_b64_columnar(client, clf, payload):
    body = client.post("/v1/models/clf/versions/1:predict", json=payload).json()
    assert set(body["outputs"]) == {"probabilities", "logits", "features"}
    np.testing.assert_array_equal(clf.calls[-1]["images"], prepared_batch(clf, SQUARE))


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        ({"instances": [{"b64": "not base64!"}]}, "invalid_request", "not valid base64"),
        ({"instances": [{"b64": 42}]}, "invalid_request", "instances[0] must be"),
        ({"instances": [{"b64": b64(SQUARE)}, IMAGE]}, "invalid_request", "instances[1] must be"),
        ({"instances": [{"pixels": {"b64": b64(SQUARE)}}]}, "invalid_request", "'images'"),
        ({"inputs": {"pixels": [{"b64": b64(SQUARE)}]}}, "invalid_request", "'images'"),
        ({"inputs": {"images": {"b64": b64(SQUARE)}}}, "invalid_request", "'images'"),
        ({"inputs": [{"b64": b64(SQUARE), "x": 1}]}, "invalid_request", "inputs[0] must be"),
        ({"inputs": [{"b64": b64(SQUARE)}] * 3}, "invalid_request", "at most 2 images"),
        ({"instances": [{"b64": b64(b"not an image")}]}, "undecodable_image", "image"),
    ],
)
def test_tfserving_b64_errors(make_client, payload, code, message):
    client = make_client(max_files_per_request=2)
    response = client.post("/v1/models/clf:predict", json=payload)
    status = 400 if code == "undecodable_image" else 422
    assert message in assert_problem(response, status, code)["detail"]


def test_tfserving_b64_on_a_model_without_images(client, fake_repo):
    response = client.post("/v1/models/fc:predict", json={"instances": [{"b64": b64(SQUARE)}]})
    assert "takes no encoded images" in assert_problem(response, 422, "invalid_input")["detail"]
    assert fake_repo.get("fc").calls == []


def test_tfserving_b64_respects_max_image_pixels(make_client):
    client = make_client(max_image_pixels=500)
    response = client.post("/v1/models/clf:predict", json={"instances": [{"b64": b64(DIM)}]})
    assert_problem(response, 413, "image_too_large")
