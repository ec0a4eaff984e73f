"""Every error answers RFC 9457 problem details with a stable code and the request id."""

import pytest

from service.errors import runtime_problem
from service.preprocessing.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)
from service.runtime.errors import (
    DeadlineExceededError,
    InferenceError,
    InvalidInputError,
    ModelNotFoundError,
    ModelNotReadyError,
    QueueFullError,
    ServiceStoppingError,
    VersionNotFoundError,
)
from tests.service.api.util import assert_problem


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ModelNotFoundError("m"), 404, "model_not_found"),
        (VersionNotFoundError("m", 3), 404, "version_not_found"),
        (ModelNotReadyError("m"), 503, "model_not_ready"),
        (QueueFullError(2.5), 503, "queue_full"),
        (ServiceStoppingError(), 503, "stopping"),
        (DeadlineExceededError(1.0), 504, "deadline_exceeded"),
        (InvalidInputError("bad"), 422, "invalid_input"),
        (InferenceError("boom"), 500, "runtime_error"),
        (ImageDecodeError("garbage"), 400, "undecodable_image"),
        (ImageTooLargeError("too many pixels"), 413, "image_too_large"),
        (UnsupportedImageFormatError("TIFF"), 415, "unsupported_media_type"),
    ],
)
def test_runtime_errors_map_to_one_status_each(error, status, code):
    assert runtime_problem(error)[:2] == (status, code)


def test_queue_full_sets_retry_after():
    assert runtime_problem(QueueFullError(2.5))[3] == {"Retry-After": "3"}


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (QueueFullError(0.2), 503, "queue_full"),
        (DeadlineExceededError(), 504, "deadline_exceeded"),
        (InvalidInputError("values must be finite"), 422, "invalid_input"),
    ],
)
def test_errors_from_infer_reach_the_client(client, fake_repo, error, status, code):
    fake_repo.get("fc").error = error
    response = client.post("/v1/sequence/predict", json={"model": "fc", "series": [1, 2, 3, 4]})
    body = assert_problem(response, status, code)
    assert body["instance"] == "/v1/sequence/predict"
    if status == 503:
        assert int(response.headers["retry-after"]) >= 1


def test_unknown_route_is_a_problem(client):
    assert_problem(client.get("/nope"), 404, "not_found")


def test_wrong_method_is_a_problem_with_allow(client):
    response = client.delete("/v1/classify")
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


def test_validation_errors_are_problems_with_locations(client):
    response = client.get("/v1/generate", params={"model": "gen", "n": "many"})
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["query", "n"]
    assert "query.n" in body["detail"]


def test_unknown_model_and_version(client):
    body = assert_problem(client.get("/v2/models/missing"), 404, "model_not_found")
    assert "missing" in body["detail"]
    assert_problem(client.get("/v2/models/clf/versions/7"), 404, "version_not_found")


def test_unexpected_exception_is_a_plain_500_logged_with_request_id(client, fake_repo, caplog):
    fake_repo.get("fc").error = ZeroDivisionError("secret internals")
    response = client.post(
        "/v1/sequence/predict",
        json={"model": "fc", "series": [1, 2, 3, 4]},
        headers={"X-Request-ID": "trace-me-1"},
    )
    body = assert_problem(response, 500, "internal_error")
    assert "secret internals" not in response.text
    assert body["request_id"] == "trace-me-1"
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert logged and logged[0].fields["request_id"] == "trace-me-1"
