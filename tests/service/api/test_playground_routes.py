"""Unit tests of the playground page, the model-file route and classify's return_input."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from service.api.routes.files import resolve_file
from service.api.routes.playground import CONTENT_SECURITY_POLICY
from service.errors import ModelFileNotFoundError
from tests.fakes.models import FakeRepository, fake_classifier
from tests.service.api.util import assert_problem, png_bytes

PLOT = b"\x89PNG\r\n\x1a\n" + b"not really a png, served as listed"


@pytest.fixture
def plotted_repo(tmp_path) -> FakeRepository:
    """A classifier whose card lists one plot that exists on disk, next to a secret."""
    model = fake_classifier()
    model.written_card["plots"] = ["learning_curves.png", "missing.png", "../1/model_card.json"]
    version_dir = tmp_path / "clf" / "1"
    version_dir.mkdir(parents=True)
    (version_dir / "learning_curves.png").write_bytes(PLOT)
    (version_dir / "saved_model.pb").write_bytes(b"weights")
    (tmp_path / "secret.txt").write_text("secret")
    return FakeRepository(model)


def test_root_serves_the_page_with_a_strict_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "connect-src 'self'" in CONTENT_SECURITY_POLICY
    page = response.text
    assert '<script src="/playground/app.js"' in page
    assert "http://" not in page and "https://" not in page  # nothing from elsewhere


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/playground/app.js", "javascript"),
        ("/playground/style.css", "text/css"),
        ("/playground/co2.json", "application/json"),
    ],
)
def test_static_files_ship_in_the_package(client, path, media_type):
    response = client.get(path)
    assert response.status_code == 200
    assert media_type in response.headers["content-type"]
    assert "https://" not in response.text


def test_co2_sample_is_the_monthly_series(client):
    sample = client.get("/playground/co2.json").json()
    assert sample["start"] == "1958-03" and sample["unit"] == "ppm"
    assert len(sample["values"]) == 526
    assert 310 < sample["values"][0] < 320 < 360 < sample["values"][-1] < 375


def test_playground_can_be_turned_off(make_client):
    client = make_client(playground=False)
    assert_problem(client.get("/"), 404, "not_found")
    assert client.get("/playground/app.js").status_code == 404


def test_page_needs_no_key_but_the_api_does(make_client):
    client = make_client(api_key="s3cret")
    assert client.get("/").status_code == 200
    assert_problem(client.get("/v1/models"), 401, "unauthorized")


def test_listed_plot_is_served(make_client, plotted_repo):
    client = make_client(plotted_repo)
    response = client.get("/v1/models/clf/versions/1/files/learning_curves.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == PLOT


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/models/clf/versions/1/files/saved_model.pb", 404, "file_not_found"),
        ("/v1/models/clf/versions/1/files/missing.png", 404, "file_not_found"),
        ("/v1/models/clf/versions/1/files/..%2F1%2Fmodel_card.json", 404, "not_found"),
        ("/v1/models/clf/versions/1/files/..%2F..%2Fsecret.txt", 404, "not_found"),
        ("/v1/models/clf/versions/1/files/%2E%2E/%2E%2E/secret.txt", 404, "not_found"),
        ("/v1/models/clf/versions/2/files/learning_curves.png", 404, "version_not_found"),
        ("/v1/models/nope/versions/1/files/learning_curves.png", 404, "model_not_found"),
        ("/v1/models/clf/versions/0/files/learning_curves.png", 422, "validation_error"),
    ],
)
def test_only_listed_files_inside_the_version_are_served(
    make_client, plotted_repo, path, status, code
):
    client = make_client(plotted_repo)
    assert_problem(client.get(path), status, code)


@pytest.mark.parametrize("filename", ["../1/model_card.json", "..", ".", "/etc/passwd", "a/b.png"])
def test_file_names_that_leave_the_version_are_refused(tmp_path, filename):
    (tmp_path / "clf" / "1").mkdir(parents=True)
    (tmp_path / "clf" / "1" / "model_card.json").write_text("{}")
    with pytest.raises(ModelFileNotFoundError):
        resolve_file(tmp_path, "clf", 1, filename)


def test_a_symlink_out_of_the_version_is_refused(tmp_path):
    (tmp_path / "clf" / "1").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(PLOT)
    (tmp_path / "clf" / "1" / "plot.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(ModelFileNotFoundError):
        resolve_file(tmp_path, "clf", 1, "plot.png")


def test_model_files_need_the_key(make_client, plotted_repo):
    client = make_client(plotted_repo, api_key="s3cret")
    path = "/v1/models/clf/versions/1/files/learning_curves.png"
    assert_problem(client.get(path), 401, "unauthorized")
    assert client.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_classify_returns_the_model_input_on_request(client, fake_repo):
    dark_on_light = png_bytes(value=0, size=(56, 28), background=255)
    headers = {"Content-Type": "image/png"}
    plain = client.post("/v1/classify?model=clf", content=dark_on_light, headers=headers)
    assert "input_png_base64" not in plain.json()["results"][0]
    response = client.post(
        "/v1/classify?model=clf&return_input=true", content=dark_on_light, headers=headers
    )
    assert response.status_code == 200, response.text
    encoded = response.json()["results"][0]["input_png_base64"]
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert (image.format, image.mode, image.size) == ("PNG", "L", (28, 28))
    seen = fake_repo.get("clf").calls[-1]["images"][0, :, :, 0]
    np.testing.assert_allclose(np.asarray(image) / 255.0, seen, atol=1 / 255)
    assert np.asarray(image)[0, 0] == 0  # inverted: the light paper became the dark background
