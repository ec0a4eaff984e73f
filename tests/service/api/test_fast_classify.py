"""The lean raw-image classify path answers exactly as the FastAPI route does."""

import base64
import io
import struct
from typing import Any

import httpx
import orjson
import pytest
from PIL import Image

from service.api.fast_classify import plain_params
from service.api.routes import kserve_v2 as kserve_v2_routes
from service.tasks.classify import ClassifyParams
from tests.service.api.util import assert_problem, png_bytes

pytestmark = pytest.mark.slow


@pytest.fixture
def http(live):
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def classify(http, params, content=None, media="image/png"):
    return http.post(
        "/v1/classify",
        params=params,
        content=png_bytes(value=90) if content is None else content,
        headers={"Content-Type": media},
    )


def test_plain_queries_parse_and_odd_ones_go_to_the_route():
    assert plain_params(b"model=m&version=2&top_k=3&polarity=keep&return_input=true") == (
        ClassifyParams(model="m", version=2, top_k=3, polarity="keep", return_input=True)
    )
    assert plain_params(b"") == ClassifyParams()
    for odd in (b"top_k=0", b"version=x", b"polarity=up", b"model=a&model=b", b"extra=1",
                b"return_input=maybe"):  # fmt: skip
        assert plain_params(odd) is None, odd


def test_lean_and_route_answers_are_identical(http):
    """`extra=1` is not a plain query, so that request takes the FastAPI route."""
    base = {"model": "tiny_classifier", "top_k": 4, "return_input": "true"}
    lean = classify(http, base)
    routed = classify(http, {**base, "extra": "1"})
    assert lean.status_code == routed.status_code == 200
    assert lean.json() == routed.json()
    assert lean.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert lean.headers["x-request-id"]


def test_lean_path_errors_are_problem_details(http):
    assert_problem(classify(http, {"model": "nope"}), 404, "model_not_found")
    assert_problem(classify(http, {"model": "tiny_forecaster"}), 422, "task_mismatch")
    assert_problem(classify(http, {"model": "tiny_classifier"}, b"not an image"), 400,
                   "undecodable_image")  # fmt: skip
    too_many = classify(http, {"model": "tiny_classifier", "top_k": 1000})
    assert_problem(too_many, 422, "invalid_request")


def test_lean_path_is_counted_under_the_route_template(http):
    classify(http, {"model": "tiny_classifier"})
    metrics = http.get("/metrics").text
    assert 'endpoint="/v1/classify",model="tiny_classifier",protocol="http",status="200"' in metrics


def _b64_images(*images: bytes) -> bytes:
    return orjson.dumps({"images": [{"b64": base64.b64encode(image).decode()} for image in images]})


def test_json_b64_lean_and_route_answers_are_identical(http):
    """Many images, inverted and not, one that Pillow decodes (a 40x30 JPEG)."""
    jpeg = io.BytesIO()
    Image.new("L", (40, 30), 230).save(jpeg, "JPEG")
    images = [png_bytes(value=v, background=b) for v, b in ((90, 0), (20, 240), (255, 10))] * 5
    body = _b64_images(*images, jpeg.getvalue())
    base = {"model": "tiny_classifier", "top_k": 3, "return_input": "true"}
    lean = classify(http, base, body, "application/json")
    routed = classify(http, {**base, "extra": "1"}, body, "application/json")
    assert lean.status_code == routed.status_code == 200
    assert lean.json() == routed.json()
    assert len(lean.json()["results"]) == 16 and "top_k" not in lean.json()
    assert [r["inverted"] for r in lean.json()["results"][:3]] == [False, True, False]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 422, "invalid_request"),
        (b'{"images": []}', 422, "invalid_request"),
        (b'{"images": [{"b64": "@@@"}]}', 422, "invalid_request"),
        (_b64_images(b"not an image"), 400, "undecodable_image"),
    ],
)
def test_json_b64_lean_errors_are_the_routes(http, body, status, code):
    lean = classify(http, {"model": "tiny_classifier"}, body, "application/json")
    routed = classify(http, {"model": "tiny_classifier", "extra": "1"}, body, "application/json")
    assert_problem(lean, status, code)
    assert_problem(routed, status, code)
    # Pillow's message names the buffer's address, which differs from call to call
    same = ("type", "title", "status", "code", "instance")
    assert [lean.json()[key] for key in same] == [routed.json()[key] for key in same]
    assert lean.json()["detail"].split(" at 0x")[0] == routed.json()["detail"].split(" at 0x")[0]


def _v2_binary(images: list[bytes], outputs: list[Any]) -> tuple[bytes, int]:
    elements = b"".join(struct.pack("<I", len(image)) + image for image in images)
    header = orjson.dumps({
        "inputs": [{"name": "image", "shape": [len(images), 1], "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(elements)}}],
        "outputs": outputs,
    })  # fmt: skip
    return header + elements, len(header)


def _infer(http, path, body, header_length=None):
    headers = {"Content-Type": "application/octet-stream"}
    if header_length is not None:
        headers["Inference-Header-Content-Length"] = str(header_length)
    return http.post(path, content=body, headers=headers)


V2_OUTPUTS = [
    [{"name": "probabilities", "parameters": {"binary_data": False}}],
    [{"name": "probabilities", "parameters": {"binary_data": True}}],
    [{"name": "probabilities", "parameters": {"classification": 3}}],
]


@pytest.mark.parametrize("outputs", V2_OUTPUTS)
@pytest.mark.parametrize("path", ["/v2/models/tiny_classifier/infer",
                                  "/v2/models/tiny_classifier/versions/1/infer"])  # fmt: skip
def test_v2_infer_lean_and_route_answers_are_identical(http, path, outputs):
    """A query string sends the same request to the FastAPI route."""
    images = [png_bytes(value=v, background=b) for v, b in ((90, 0), (20, 240))] * 8
    body, header_length = _v2_binary(images, outputs)
    lean = _infer(http, path, body, header_length)
    routed = _infer(http, path + "?route=1", body, header_length)
    assert lean.status_code == routed.status_code == 200
    assert lean.content == routed.content
    for name in ("content-type", "content-length", "inference-header-content-length"):
        assert lean.headers.get(name) == routed.headers.get(name), name
    metrics = http.get("/metrics").text
    template = path.replace("tiny_classifier", "{name}").replace("/1/", "/{version}/")
    assert f'endpoint="{template}",model="tiny_classifier"' in metrics


def test_v2_infer_lean_errors_are_the_routes(http):
    body, header_length = _v2_binary([png_bytes()], V2_OUTPUTS[0])
    cases = [
        ("/v2/models/nope/infer", body, header_length, 404, "model_not_found"),
        ("/v2/models/tiny_classifier/infer", body, len(body) + 1, 422, "invalid_request"),
        ("/v2/models/tiny_classifier/infer", b"{", None, 422, "invalid_request"),
        ("/v2/models/tiny_classifier/versions/9/infer", body, header_length, 404, None),
    ]
    for path, content, length, status, code in cases:
        lean = _infer(http, path, content, length)
        routed = _infer(http, path + "?route=1", content, length)
        assert lean.status_code == routed.status_code == status, (path, lean.text)
        if code is not None:
            assert_problem(lean, status, code)
        same = ("type", "title", "status", "code", "detail", "instance")
        assert [lean.json()[key] for key in same] == [routed.json()[key] for key in same]


def test_a_plain_v2_infer_never_reaches_the_fastapi_route(http, monkeypatch):
    routed = []

    async def recording(request, *args):
        routed.append(request.url.path)
        return await original(request, *args)

    original = kserve_v2_routes._infer
    monkeypatch.setattr(kserve_v2_routes, "_infer", recording)
    body, header_length = _v2_binary([png_bytes()], V2_OUTPUTS[0])
    assert _infer(http, "/v2/models/tiny_classifier/infer", body, header_length).status_code == 200
    assert routed == []
    assert _infer(http, "/v2/models/tiny_classifier/infer?x=1", body, header_length).is_success
    assert routed == ["/v2/models/tiny_classifier/infer"]
