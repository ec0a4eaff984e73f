"""Every error answers RFC 9457 problem details with a stable code and the request id."""

import pytest
from starlette.exceptions import HTTPException as StarletteHTTPException

import service.tasks.classify  # noqa: F401  (defines NotAClassifierError)
from service.api.problems import BodyTooLargeError, error_response
from service.errors import (
    PROBLEMS,
    ApiError,
    ClientClosedRequestError,
    GrpcCode,
    InvalidRequestError,
    ModelFileNotFoundError,
    ModelRequiredError,
    NotReadyError,
    OverloadedError,
    PayloadTooLargeError,
    StoppingError,
    TaskMismatchError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    problem_headers,
    problem_of,
)
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
    RuntimeServiceError,
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
    problem = problem_of(error)
    assert problem is not None and (problem.status, problem.code) == (status, code)


def test_queue_full_sets_retry_after():
    error = QueueFullError(2.5)
    problem = problem_of(error)
    assert problem is not None
    assert problem_headers(problem, error) == {"Retry-After": "3"}


@pytest.mark.parametrize(
    ("error", "status", "code", "grpc", "headers"),
    [
        (ApiError("x"), 400, "bad_request", "INVALID_ARGUMENT", {}),
        (UnauthorizedError("x"), 401, "unauthorized", "UNAUTHENTICATED",
         {"WWW-Authenticate": "Bearer"}),
        (ModelFileNotFoundError("x"), 404, "file_not_found", "NOT_FOUND", {}),
        (PayloadTooLargeError("x"), 413, "body_too_large", "RESOURCE_EXHAUSTED", {}),
        (UnsupportedMediaTypeError("x"), 415, "unsupported_media_type", "INVALID_ARGUMENT", {}),
        (InvalidRequestError("x"), 422, "invalid_request", "INVALID_ARGUMENT", {}),
        (ModelRequiredError("x"), 422, "model_required", "INVALID_ARGUMENT", {}),
        (TaskMismatchError("x"), 422, "task_mismatch", "INVALID_ARGUMENT", {}),
        (NotReadyError("x"), 503, "not_ready", "UNAVAILABLE", {"Retry-After": "1"}),
        (StoppingError("x"), 503, "stopping", "UNAVAILABLE", {"Retry-After": "1"}),
        (OverloadedError("x"), 503, "overloaded", "UNAVAILABLE", {"Retry-After": "1"}),
        (ClientClosedRequestError("x"), 499, "client_closed_request", "CANCELLED", {}),
        (QueueFullError(0.2), 503, "queue_full", "UNAVAILABLE", {"Retry-After": "1"}),
        (DeadlineExceededError(), 504, "deadline_exceeded", "DEADLINE_EXCEEDED", {}),
        (ModelNotFoundError("m"), 404, "model_not_found", "NOT_FOUND", {}),
        (InferenceError("boom"), 500, "runtime_error", "INTERNAL", {}),
    ],
)  # fmt: skip
def test_each_error_has_one_row_over_http_and_grpc(error, status, code, grpc, headers):
    problem = problem_of(error)
    assert problem is not None
    assert (problem.status, problem.code, problem.grpc) == (status, code, grpc)
    assert problem_headers(problem, error) == headers
    response = error_response(error, "/x", "rid")
    assert response.status_code == status
    own = {k: v for k, v in response.headers.items() if not k.startswith("content-")}
    assert own == {name.lower(): value for name, value in headers.items()}


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    direct: list[type] = cls.__subclasses__()
    for sub in direct:
        found += [sub, *_subclasses(sub)]
    return found


def test_the_table_covers_every_domain_error():
    domain = _subclasses(ApiError) + _subclasses(RuntimeServiceError)
    assert len(domain) >= 20
    for cls in [ApiError, RuntimeServiceError, *domain]:
        problem = next((PROBLEMS[c] for c in cls.__mro__ if c in PROBLEMS), None)
        assert problem is not None, cls
        assert 400 <= problem.status < 600 and problem.code and problem.title, cls
        assert isinstance(problem.grpc, GrpcCode) and problem.grpc.name == problem.grpc.value
        assert problem.type == f"urn:kerasserve:problem:{problem.code}"
    assert all(status != 503 or p.retry for p in PROBLEMS.values() for status in [p.status])


def test_unexpected_errors_answer_a_plain_500():
    response = error_response(ZeroDivisionError("secret"), "/x", "rid-1")
    assert response.status_code == 500 and b"secret" not in response.body
    assert b'"code":"internal_error"' in response.body and b"rid-1" in response.body


def test_body_too_large_passes_fastapi_body_parsing():
    # FastAPI re-raises only HTTPExceptions from `receive`; anything else becomes a 400.
    assert isinstance(BodyTooLargeError("x"), PayloadTooLargeError)
    assert isinstance(BodyTooLargeError("x"), StarletteHTTPException)
    assert BodyTooLargeError("x").status_code == 413


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
