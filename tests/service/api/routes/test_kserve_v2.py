"""KServe V2 over REST: health, metadata, infer (JSON, binary, BYTES images), classification
and repository extensions."""

import struct
from typing import Any

import numpy as np
import orjson
import pytest

from tests.fakes.models import FakeStatus
from tests.service.api.protocol_data import DIM, IMAGE, SQUARE, b64, prepared_batch
from tests.service.api.util import assert_problem


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


def length_prefixed(*elements: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in elements)


def v2_binary(client, url: str, header: dict[str, Any], tail: bytes):
    head = orjson.dumps(header)
    return client.post(
        url,
        content=head + tail,
        headers={
            "Inference-Header-Content-Length": str(len(head)),
            "Content-Type": "application/octet-stream",
        },
    )


def split_binary(response) -> tuple[dict[str, Any], bytes]:
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    return orjson.loads(response.content[:length]), response.content[length:]


@pytest.mark.parametrize(
    ("name", "shape", "data"),
    [
        ("images", [2], [b64(SQUARE), b64(DIM)]),
        ("picture", [2, 1], [[b64(SQUARE)], [b64(DIM)]]),
    ],
)
def test_v2_bytes_input_json(client, clf, name, shape, data):
    request = {
        "inputs": [{"name": name, "shape": shape, "datatype": "BYTES", "data": data}],
        "outputs": [{"name": "probabilities"}],
    }
    body = client.post("/v2/models/clf/infer", json=request).json()
    assert body["outputs"][0]["shape"] == [2, 10]
    np.testing.assert_array_equal(clf.calls[-1]["images"], prepared_batch(clf, SQUARE, DIM))


def test_v2_bytes_input_binary_with_binary_output(client, clf):
    header = {
        "inputs": [
            {
                "name": "images",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(length_prefixed(SQUARE, DIM))},
            }
        ],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
    }
    meta, tail = split_binary(
        v2_binary(client, "/v2/models/clf/infer", header, length_prefixed(SQUARE, DIM))
    )
    assert meta["outputs"][0]["datatype"] == "FP32"
    expected = clf.run({"images": prepared_batch(clf, SQUARE, DIM)})["probabilities"]
    np.testing.assert_array_equal(np.frombuffer(tail, "<f4").reshape(2, 10), expected)


def _bytes_input(shape, data=None, size=None, name="images"):
    tensor: dict[str, Any] = {"name": name, "shape": shape, "datatype": "BYTES"}
    if data is not None:
        tensor["data"] = data
    if size is not None:
        tensor["parameters"] = {"binary_data_size": size}
    return tensor


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([_bytes_input([1], ["%%%"])], "not valid base64"),
        ([_bytes_input([1], [7])], "must be a base64 string"),
        ([_bytes_input([2, 2], [b64(SQUARE)] * 4)], "shape [N] or [N, 1]"),
        ([_bytes_input([1, 28], [b64(SQUARE)] * 28)], "shape [N] or [N, 1]"),
        ([_bytes_input([0], [])], "shape [N] or [N, 1]"),
        ([_bytes_input([3], [b64(SQUARE)] * 2)], "2 elements do not fill shape [3]"),
        ([_bytes_input([1])], "neither data nor binary_data_size"),
        ([_bytes_input([3], [b64(SQUARE)] * 3)], "at most 2 images"),
        (
            [
                _bytes_input([1], [b64(SQUARE)]),
                {"name": "extra", "shape": [1], "datatype": "FP32", "data": [1]},
            ],
            "send only the BYTES input",
        ),
    ],
)
def test_v2_bytes_input_errors(make_client, inputs, message):
    client = make_client(max_files_per_request=2)
    response = client.post("/v2/models/clf/infer", json={"inputs": inputs})
    assert message in assert_problem(response, 422, "invalid_request")["detail"]


@pytest.mark.parametrize(
    ("tail", "size", "message"),
    [
        (length_prefixed(SQUARE)[:-3], None, "claims"),
        (length_prefixed(SQUARE) + b"\x01\x00", None, "ends inside a length"),
        (length_prefixed(SQUARE), 10_000_000, "runs past the end"),
        (length_prefixed(SQUARE, SQUARE), None, "2 elements do not fill shape [1]"),
    ],
)
def test_v2_bytes_binary_errors(client, tail, size, message):
    header = {"inputs": [_bytes_input([1], size=size or len(tail))]}
    response = v2_binary(client, "/v2/models/clf/infer", header, tail)
    assert message in assert_problem(response, 422, "invalid_request")["detail"]


def test_v2_bytes_on_a_model_without_images(client, fake_repo):
    request = {"inputs": [_bytes_input([1], [b64(SQUARE)], name="series")]}
    response = client.post("/v2/models/fc/infer", json=request)
    assert "takes no encoded images" in assert_problem(response, 422, "invalid_input")["detail"]


def test_v2_bytes_bad_image_is_a_400(client):
    request = {"inputs": [_bytes_input([1], [b64(b"GIF89a but not really")])]}
    assert_problem(client.post("/v2/models/clf/infer", json=request), 400, "undecodable_image")


# -- classification extension ---------------------------------------------------------


def _pixels_request(outputs, binary_output=False):
    request: dict[str, Any] = {
        "inputs": [
            {"name": "images", "shape": [2, 28, 28, 1], "datatype": "FP32", "data": [IMAGE] * 2}
        ],
        "outputs": outputs,
    }
    if binary_output:
        request["parameters"] = {"binary_data_output": True}
    return request


def test_v2_classification_json(client):
    outputs = [
        {"name": "probabilities", "parameters": {"classification": 3}},
        {"name": "features", "parameters": {"classification": 9}},
        {"name": "logits"},
    ]
    body = client.post("/v2/models/clf/infer", json=_pixels_request(outputs)).json()
    top, features, logits = body["outputs"]
    # All-zero images: class 0 wins with 0.91, then ties at 0.01 in index order.
    assert top == {
        "name": "probabilities",
        "datatype": "BYTES",
        "shape": [2, 3],
        "data": ["0.910000:0:class0", "0.010000:1:class1", "0.010000:2:class2"] * 2,
    }
    # Four columns, ten labels: no labels, and k is capped at the column count.
    assert features["shape"] == [2, 4] and features["data"][:4] == [
        "0.000000:0",
        "0.000000:1",
        "0.000000:2",
        "0.000000:3",
    ]
    assert logits["datatype"] == "FP32" and logits["shape"] == [2, 10]


def test_v2_classification_binary(client):
    outputs = [{"name": "logits", "parameters": {"classification": 2, "binary_data": True}}]
    meta, tail = split_binary(client.post("/v2/models/clf/infer", json=_pixels_request(outputs)))
    entry = meta["outputs"][0]
    assert entry["datatype"] == "BYTES" and entry["shape"] == [2, 2]
    assert entry["parameters"] == {"binary_data_size": len(tail)}
    strings = [item.decode() for item in read_length_prefixed(tail)]
    # The raw output value, not a probability: logits are negative here.
    assert strings == ["-0.094311:0:class0", "-4.605170:1:class1"] * 2


def read_length_prefixed(raw: bytes) -> list[bytes]:
    items, offset = [], 0
    while offset < len(raw):
        (length,) = struct.unpack_from("<I", raw, offset)
        items.append(raw[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return items


@pytest.mark.parametrize("count", [0, -1, "3", True, 1.5])
def test_v2_classification_count_must_be_positive_int(client, count):
    outputs = [{"name": "probabilities", "parameters": {"classification": count}}]
    response = client.post("/v2/models/clf/infer", json=_pixels_request(outputs))
    assert (
        "classification must be a positive integer"
        in assert_problem(response, 422, "invalid_request")["detail"]
    )


def test_v2_classification_needs_a_2d_output(client):
    request = {
        "inputs": [
            {"name": "noise", "shape": [1, 8], "datatype": "FP32", "data": [0] * 8},
            {"name": "labels", "shape": [1], "datatype": "INT32", "data": [3]},
        ],
        "outputs": [{"name": "images", "parameters": {"classification": 1}}],
    }
    response = client.post("/v2/models/gen/infer", json=request)
    detail = assert_problem(response, 422, "invalid_request")["detail"]
    assert "[batch, classes]" in detail and "[1, 28, 28, 1]" in detail


# -- model repository extension, metadata of failed models ------------------------------


def test_v2_server_metadata_lists_the_extensions(client):
    extensions = client.get("/v2").json()["extensions"]
    assert set(extensions) == {"binary_tensor_data", "classification", "model_repository"}


def test_v2_repository_index(client, fake_repo):
    fake_repo.failed += [
        FakeStatus("broken", 1, "FAILED", None, "no saved_model.pb", None, None),
        FakeStatus("clf", 2, "LOADING", None, None, None, None),
        FakeStatus("clf", 3, "UNLOADING", None, None, None, None),
        FakeStatus("old", 1, "END", None, None, None, None),
    ]
    index = client.post("/v2/repository/index").json()
    assert {"name": "clf", "version": "1", "state": "READY", "reason": ""} in index
    assert index[-4:] == [
        {"name": "broken", "version": "1", "state": "UNAVAILABLE", "reason": "no saved_model.pb"},
        {"name": "clf", "version": "2", "state": "LOADING", "reason": ""},
        {"name": "clf", "version": "3", "state": "UNAVAILABLE", "reason": "unloading"},
        {"name": "old", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"},
    ]
    assert len(index) == len(fake_repo.statuses())
    ready = client.post("/v2/repository/index", json={"ready": True}).json()
    assert {entry["name"] for entry in ready} == {"clf", "fc", "gen"}
    assert {entry["state"] for entry in ready} == {"READY"}
    assert client.post("/v2/repository/index", json={}).json() == index


@pytest.mark.parametrize("body", [b"{nope", b"[]", b'{"ready": "yes"}'])
def test_v2_repository_index_rejects_bad_bodies(client, body):
    response = client.post("/v2/repository/index", content=body)
    assert_problem(response, 422, "invalid_request")


def test_v2_repository_index_needs_the_api_key(make_client):
    client = make_client(api_key="secret")
    assert_problem(client.post("/v2/repository/index"), 401, "unauthorized")
    assert client.post("/v2/repository/index", headers={"Authorization": "Bearer secret"}).json()


def test_v2_metadata_of_a_failed_model_is_a_503_with_the_reason(client, fake_repo):
    fake_repo.failed.append(FakeStatus("broken", 1, "FAILED", None, "bad card", None, None))
    body = assert_problem(client.get("/v2/models/broken"), 503, "model_not_ready")
    assert "broken" in body["detail"] and "failed" in body["detail"]
