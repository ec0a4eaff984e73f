"""Unit tests of the TF Serving and KServe V2 routes over fake models."""

import numpy as np
import orjson
import pytest

from tests.service.api.fakes import FakeStatus
from tests.service.api.util import assert_problem

IMAGE = np.zeros((28, 28, 1)).tolist()


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


def test_v2_server_routes(client, fake_repo):
    assert client.get("/v2").json()["name"] == "kerasserve"
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    fake_repo.ready = False
    assert_problem(client.get("/v2/health/ready"), 503, "not_ready")


def test_v2_model_metadata_and_ready(client):
    body = client.get("/v2/models/gen").json()
    assert body["versions"] == ["1"]
    assert body["inputs"] == [
        {"name": "noise", "datatype": "FP32", "shape": [-1, 8]},
        {"name": "labels", "datatype": "INT32", "shape": [-1]},
    ]
    assert body["outputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 28, 28, 1]}]
    assert client.get("/v2/models/gen/versions/1").json() == body
    assert client.get("/v2/models/gen/ready").json() == {"name": "gen", "ready": True}
    assert client.get("/v2/models/gen/versions/1/ready").status_code == 200
    assert_problem(client.get("/v2/models/gen/versions/2/ready"), 404, "version_not_found")


def test_v2_infer_json(client):
    request = {
        "id": "req-9",
        "inputs": [
            {
                "name": "series",
                "shape": [2, 4],
                "datatype": "FP32",
                "data": [1, 2, 3, 4, 5, 6, 7, 8],
            }
        ],
    }
    body = client.post("/v2/models/fc/infer", json=request).json()
    assert body == {
        "model_name": "fc",
        "model_version": "1",
        "id": "req-9",
        "outputs": [
            {"name": "forecast", "datatype": "FP32", "shape": [2, 3], "data": [5.0] * 3 + [9.0] * 3}
        ],
    }


def test_v2_infer_output_selection_and_nested_data(client):
    request = {
        "inputs": [
            {"name": "images", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [IMAGE]}
        ],
        "outputs": [{"name": "probabilities"}],
    }
    body = client.post("/v2/models/clf/versions/1/infer", json=request).json()
    assert [o["name"] for o in body["outputs"]] == ["probabilities"]
    assert "id" not in body


def test_v2_infer_binary_in_and_out(client):
    series = np.arange(8, dtype=np.float32).reshape(2, 4)
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "series",
                    "shape": [2, 4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 32},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    response = client.post(
        "/v2/models/fc/infer",
        content=header + series.tobytes(),
        headers={
            "Inference-Header-Content-Length": str(len(header)),
            "Content-Type": "application/octet-stream",
        },
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    meta = orjson.loads(response.content[:length])
    assert meta["outputs"][0]["parameters"] == {"binary_data_size": 24}
    values = np.frombuffer(response.content[length:], dtype="<f4").reshape(2, 3)
    np.testing.assert_array_equal(values, [[4, 4, 4], [8, 8, 8]])


@pytest.mark.parametrize(
    "request_body",
    [
        {"inputs": []},
        {"inputs": [{"name": "series", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]},
        {"inputs": [{"name": "series", "shape": [1, 4], "datatype": "BYTES", "data": ["a"] * 4}]},
        {"inputs": [{"name": "series", "shape": [1, 4], "datatype": "FP32"}]},
        {"inputs": [{"name": "series", "shape": [1, 4], "datatype": "FP32", "data": ["x"] * 4}]},
        {
            "inputs": [{"name": "series", "shape": [1, 4], "datatype": "FP32", "data": [1] * 4}],
            "outputs": [{"name": "zzz"}],
        },
    ],
)
def test_v2_infer_rejects_bad_requests(client, request_body):
    assert_problem(client.post("/v2/models/fc/infer", json=request_body), 422, "invalid_request")


def test_v2_errors_carry_error_member_for_triton_clients(client):
    body = client.get("/v2/models/missing/ready").json()
    assert body["error"] == body["detail"]
