"""Version labels and the split on every route, the version header, rollout listings."""

import time

import pytest

from tests.fakes.models import FakeRepository, fake_classifier, fake_forecaster, fake_generator
from tests.fakes.rollout import install_rollout
from tests.service.api.protocol_data import IMAGE
from tests.service.api.util import assert_problem, png_bytes

LABELS = {"version_labels": {"stable": 1, "canary": 2}}
PNG = {"content-type": "image/png"}


@pytest.fixture
def repo() -> FakeRepository:
    models = [make(version=v) for make in (fake_classifier, fake_forecaster, fake_generator)
              for v in (1, 2)]  # fmt: skip
    repo = FakeRepository(*models)
    for name in ("clf", "fc", "gen"):
        install_rollout(repo, name, {**LABELS, "traffic": {"stable": 1}})
    return repo


@pytest.fixture
def labelled(make_client, repo):
    return make_client(repo)


def versions_of(response) -> tuple[int, str]:
    assert response.status_code == 200, response.text
    return response.json()["version"], response.headers["x-kerasserve-version"]


@pytest.mark.parametrize("path", ["/v1/classify", "/classify"])
def test_classify_takes_a_label_on_the_lean_path_and_the_route(labelled, path):
    raw = labelled.post(f"{path}?version_label=canary", content=png_bytes(), headers=PNG)
    assert versions_of(raw) == (2, "2")
    files = {"file": ("a.png", png_bytes(), "image/png")}
    multipart = labelled.post(f"{path}?model=clf&version_label=stable", files=files)
    assert versions_of(multipart) == (1, "1")
    assert versions_of(labelled.post(path, content=png_bytes(), headers=PNG)) == (1, "1")


@pytest.mark.parametrize("path", ["/v1/generate", "/generate"])
def test_generate_takes_a_label(labelled, path):
    response = labelled.get(f"{path}?version_label=canary&n=1&format=json")
    assert versions_of(response) == (2, "2")


@pytest.mark.parametrize("path", ["/v1/sequence/predict", "/sequence/predict"])
def test_sequence_takes_a_label(labelled, path):
    body = {"series": [1, 2, 3, 4]}
    assert versions_of(labelled.post(f"{path}?version_label=canary", json=body)) == (2, "2")
    assert versions_of(labelled.post(path, json=body)) == (1, "1")


def test_tfserving_label_status_metadata_and_predict(labelled):
    status = labelled.get("/v1/models/clf/labels/canary")
    assert [s["version"] for s in status.json()["model_version_status"]] == ["2"]
    metadata = labelled.get("/v1/models/clf/labels/stable/metadata")
    assert metadata.json()["model_spec"]["version"] == "1"
    assert metadata.headers["x-kerasserve-version"] == "1"
    predicted = labelled.post("/v1/models/fc/labels/canary:predict", json={"instances": [[1] * 4]})
    assert predicted.status_code == 200 and predicted.headers["x-kerasserve-version"] == "2"
    split = labelled.post("/v1/models/clf:predict", json={"instances": [IMAGE]})
    assert split.headers["x-kerasserve-version"] == "1"  # all traffic on stable


def test_a_label_with_a_version_is_400_and_an_unknown_label_is_named(labelled):
    both = labelled.post("/v1/classify?version=1&version_label=stable", content=png_bytes(),
                         headers=PNG)  # fmt: skip
    assert_problem(both, 400, "version_and_label")
    assert_problem(labelled.get("/v1/generate?version=2&version_label=stable"), 400,
                   "version_and_label")  # fmt: skip
    for response in (
        labelled.post("/v1/classify?version_label=beta", content=png_bytes(), headers=PNG),
        labelled.get("/v1/models/clf/labels/beta"),
        labelled.post("/v1/sequence/predict?version_label=beta", json={"series": [1, 2, 3, 4]}),
    ):
        assert "'beta'" in assert_problem(response, 404, "version_label_not_found")["detail"]


def test_a_pending_label_is_503_with_retry_after(make_client, repo):
    install_rollout(repo, "clf", LABELS, available=[1])
    response = make_client(repo).get("/v1/models/clf/labels/canary/metadata")
    assert_problem(response, 503, "version_label_pending")
    assert response.headers["retry-after"] == "1"


def test_route_keys_are_sticky_over_http(make_client, repo):
    install_rollout(repo, "clf", {"traffic": {"1": 50, "2": 50}})
    client = make_client(repo)
    for key in ("a", "b", "c", "d"):
        headers = {**PNG, "X-Kerasserve-Route-Key": key}
        seen = {client.post("/v1/classify", content=png_bytes(), headers=headers).json()["version"]
                for _ in range(20)}  # fmt: skip
        assert len(seen) == 1


def test_the_version_header_is_only_on_model_answers(labelled):
    assert "x-kerasserve-version" not in labelled.get("/healthz").headers
    assert "x-kerasserve-version" not in labelled.get("/v1/models").headers


def test_models_lists_rollouts_and_the_shadow_report(make_client, repo):
    shadow = {"version_label": "canary", "percent": 100}
    install_rollout(
        repo, "clf", {**LABELS, "traffic": {"stable": 90, "canary": 10}, "shadow": shadow}
    )
    client = make_client(repo)
    state = client.get("/v1/models").json()["rollouts"]["clf"]
    assert state["file"] == "in force" and state["error"] is None
    assert state["labels"] == {"stable": 1, "canary": 2}
    assert state["split"] == {"1": 90.0, "2": 10.0}
    assert state["shadow"]["version"] == 2
    client.post("/v1/classify?version_label=stable", content=png_bytes(), headers=PNG)
    deadline = time.monotonic() + 5
    while not (report := client.get("/v1/models/clf/shadow").json())["rows"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert report["rows"] == [{"primary": 1, "shadow": 2, "agree": 1, "disagree": 0, "error": 0}]
    assert report["agreement"] == 1.0 and report["shed"] == 0
    assert_problem(client.get("/v1/models/ghost/shadow"), 404, "model_not_found")
