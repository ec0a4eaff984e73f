"""Unit tests of /v1/classify, /v1/sequence/predict and /v1/generate over fake models."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests.fakes.models import FakeRepository, fake_classifier, fake_forecaster
from tests.service.api.util import assert_problem, png_bytes


def _png(client, body: bytes, **params):
    return client.post(
        "/v1/classify", params=params, content=body, headers={"Content-Type": "image/png"}
    )


def test_classify_raw_body_has_results_and_simple_shape(client):
    response = _png(client, png_bytes(), model="clf", top_k=3)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == ("clf", 1)
    assert len(body["results"]) == 1 and "filename" not in body["results"][0]
    assert body["top_k"] == body["results"][0]["top_k"]
    assert len(body["top_k"]) == 3
    assert body["top_k"][0]["score"] >= body["top_k"][1]["score"]
    assert body["top_k"][0]["label"] == f"class{body['top_k'][0]['index']}"
    assert body["inverted"] is False


def test_classify_inverts_dark_on_light_unless_told_otherwise(client, fake_repo):
    dark_on_light = png_bytes(value=0, background=255)
    assert _png(client, dark_on_light, model="clf").json()["inverted"] is True
    assert _png(client, dark_on_light, model="clf", polarity="keep").json()["inverted"] is False
    kept = fake_repo.get("clf").calls[-1]["images"]
    assert kept.shape == (1, 28, 28, 1) and kept.mean() > 0.5


def test_classify_multipart_gives_one_result_per_file(client, fake_repo):
    files = [("file", (f"img{i}.png", png_bytes(value=40 * i), "image/png")) for i in range(1, 4)]
    response = client.post("/v1/classify?model=clf", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["filename"] for r in body["results"]] == ["img1.png", "img2.png", "img3.png"]
    assert "top_k" not in body
    assert fake_repo.get("clf").calls[-1]["images"].shape[0] == 3  # one batch


def test_classify_file_limit(make_client):
    client = make_client(max_files_per_request=2)
    files = [("file", (f"{i}.png", png_bytes(), "image/png")) for i in range(3)]
    body = assert_problem(
        client.post("/v1/classify?model=clf", files=files), 422, "invalid_request"
    )
    assert "at most 2" in body["detail"]
    many = [("file", (f"{i}.png", png_bytes(), "image/png")) for i in range(10)]
    assert_problem(client.post("/v1/classify?model=clf", files=many), 422, "invalid_request")


def test_classify_media_type_and_decode_errors(client):
    response = client.post(
        "/v1/classify?model=clf", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert_problem(
        client.post("/v1/classify?model=clf", content=b"xx"), 415, "unsupported_media_type"
    )
    assert_problem(_png(client, b"not a png at all", model="clf"), 400, "undecodable_image")
    tiff = io.BytesIO()
    Image.new("L", (8, 8)).save(tiff, format="TIFF")
    assert_problem(_png(client, tiff.getvalue(), model="clf"), 415, "unsupported_media_type")


def test_classify_pixel_limit(make_client):
    client = make_client(max_image_pixels=1000)
    body = assert_problem(
        _png(client, png_bytes(size=(100, 100)), model="clf"), 413, "image_too_large"
    )
    assert "1000" in body["detail"]


def test_classify_json_b64_images_and_their_errors(client, fake_repo):
    encoded = base64.b64encode(png_bytes(value=200)).decode()
    response = client.post("/v1/classify?model=clf", json={"images": [{"b64": encoded}] * 3})
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == 3 and "top_k" not in response.json()
    assert fake_repo.get("clf").calls[-1]["images"].shape == (3, 28, 28, 1)
    for body, detail in (
        ({"images": []}, "send {"),
        ({"images": [{"b64": "%%%"}]}, "images[0].b64 is not valid base64"),
        ({"images": [{"data": encoded}]}, "images[0] must be"),
        ({"images": [{"b64": encoded}] * 65}, "at most 64 images"),
    ):
        problem = assert_problem(client.post("/v1/classify", json=body), 422, "invalid_request")
        assert detail in problem["detail"]
    bad_json = client.post(
        "/v1/classify", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert "not valid JSON" in assert_problem(bad_json, 422, "invalid_request")["detail"]


def test_aliases_answer_exactly_as_the_v1_routes(client):
    image = png_bytes(value=90)
    v1, alias = (
        client.post(path, content=image, headers={"Content-Type": "image/png"}).json()
        for path in ("/v1/classify?model=clf", "/classify?model=clf")
    )
    assert v1 == alias
    series = {"series": [1, 2, 3, 4, 5]}
    assert (
        client.post("/sequence/predict", json=series).json()
        == client.post("/v1/sequence/predict", json=series).json()
    )
    same = [
        client.get(path, params={"seed": 3, "n": 2}).content
        for path in ("/v1/generate", "/generate")
    ]
    assert same[0] == same[1]
    paths = client.get("/openapi.json").json()["paths"]
    for alias_path, v1_path in (
        ("/classify", "/v1/classify"),
        ("/generate", "/v1/generate"),
        ("/sequence/predict", "/v1/sequence/predict"),
    ):
        (operation,) = paths[alias_path].values()
        assert operation["summary"].endswith(
            f"(alias of {operation_method(paths, v1_path)} {v1_path})"
        )


def operation_method(paths, path):
    (method,) = paths[path]
    return method.upper()


def test_default_models_choose_among_several(make_client):
    two = FakeRepository(fake_classifier("a"), fake_classifier("b"))
    client = make_client(two, default_models={"classify": "b"})
    assert _png(client, png_bytes()).json()["model"] == "b"
    assert client.get("/v1/models").json()["defaults"] == {"classify": "b"}
    assert _png(client, png_bytes(), model="a").json()["model"] == "a"


def test_classify_model_choice(client, make_client):
    single = make_client(FakeRepository(fake_classifier(), fake_forecaster()))
    assert _png(single, png_bytes()).json()["model"] == "clf"
    two = make_client(FakeRepository(fake_classifier("a"), fake_classifier("b")))
    body = assert_problem(_png(two, png_bytes()), 422, "model_required")
    assert "a, b" in body["detail"]
    body = assert_problem(_png(client, png_bytes(), model="fc"), 422, "task_mismatch")
    assert "forecast" in body["detail"]
    assert_problem(_png(client, png_bytes(), model="nope"), 404, "model_not_found")
    assert_problem(_png(client, png_bytes(), model="clf", version=9), 404, "version_not_found")


def test_classify_top_k_limits(client):
    assert_problem(_png(client, png_bytes(), model="clf", top_k=101), 422, "invalid_request")
    assert_problem(_png(client, png_bytes(), model="clf", top_k=0), 422, "validation_error")
    assert len(_png(client, png_bytes(), model="clf", top_k=50).json()["top_k"]) == 10


def test_sequence_uses_last_window(client, fake_repo):
    response = client.post("/v1/sequence/predict", json={"series": [9, 1, 2, 3, 4]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "model": "fc",
        "version": 1,
        "window": 4,
        "horizon": 3,
        "model_horizon": 3,
        "recursive": False,
        "forecast": [5.0, 5.0, 5.0],
    }
    np.testing.assert_array_equal(fake_repo.get("fc").calls[-1]["series"], [[1, 2, 3, 4]])


def test_sequence_recursive_horizon(client, fake_repo):
    body = client.post(
        "/v1/sequence/predict", json={"model": "fc", "series": [1, 2, 3, 4], "horizon": 7}
    ).json()
    assert body["recursive"] is True and body["horizon"] == 7
    assert body["forecast"] == [5, 5, 5, 6, 6, 6, 7]
    assert len(fake_repo.get("fc").calls) == 3


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"model": "fc", "series": [1, 2, 3]}, "invalid_request"),
        ({"model": "fc", "series": [1, 2, 3, 4], "horizon": 500}, "invalid_request"),
        ({"model": "fc", "series": [1, 2, 3, 4], "horizon": 0}, "validation_error"),
        ({"model": "fc", "series": []}, "validation_error"),
        ({"model": "fc", "series": [1, 2, "x", 4]}, "validation_error"),
        ({"model": "fc", "series": [1, 2, 3, 4], "extra": 1}, "validation_error"),
        ({"model": "fc", "series": [1, 2, 3, 1e39]}, "invalid_request"),
    ],
)
def test_sequence_rejects_bad_input(client, payload, code):
    assert_problem(client.post("/v1/sequence/predict", json=payload), 422, code)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_sequence_rejects_non_finite(client, token):
    body = f'{{"model": "fc", "series": [1, 2, 3, {token}]}}'
    response = client.post(
        "/v1/sequence/predict", content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, "validation_error")


def test_sequence_series_length_limit(make_client):
    client = make_client(max_series_length=5)
    response = client.post("/v1/sequence/predict", json={"model": "fc", "series": list(range(6))})
    assert_problem(response, 422, "invalid_request")


def test_generate_png_grid_is_deterministic(client):
    first = client.get("/v1/generate", params={"model": "gen", "n": 5, "seed": 7})
    second = client.get("/v1/generate", params={"model": "gen", "n": 5, "seed": 7})
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert first.content == second.content
    assert first.headers["x-seed"] == "7"
    grid = Image.open(io.BytesIO(first.content))
    assert grid.size == (3 * 30 + 2, 2 * 30 + 2)


def test_generate_json_labels_and_seed(client, fake_repo):
    body = client.get(
        "/v1/generate", params={"n": 3, "seed": 11, "label": 4, "format": "json"}
    ).json()
    assert body["seed"] == 11 and [img["label"] for img in body["images"]] == [4, 4, 4]
    image = Image.open(io.BytesIO(base64.b64decode(body["images"][0]["png_base64"])))
    assert image.size == (28, 28)
    assert fake_repo.get("gen").calls[-1]["labels"].dtype == np.int32
    random_labels = client.get("/v1/generate", params={"n": 8, "format": "json"}).json()
    assert random_labels["seed"] >= 0


def test_generate_limits(client):
    assert_problem(client.get("/v1/generate", params={"n": 65}), 422, "invalid_request")
    assert_problem(client.get("/v1/generate", params={"label": 10}), 422, "invalid_request")
    assert_problem(client.get("/v1/generate", params={"n": 0}), 422, "validation_error")
    assert_problem(client.get("/v1/generate", params={"model": "clf"}), 422, "task_mismatch")
