"""Every error the service answers, in one table: problem code, HTTP status, gRPC code.

The errors the HTTP layer raises itself::

    ApiError                        400 bad_request              INVALID_ARGUMENT
    ├── UnauthorizedError           401 unauthorized             UNAUTHENTICATED
    ├── ModelFileNotFoundError      404 file_not_found           NOT_FOUND
    ├── PayloadTooLargeError        413 body_too_large           RESOURCE_EXHAUSTED
    ├── UnsupportedMediaTypeError   415 unsupported_media_type   INVALID_ARGUMENT
    ├── InvalidRequestError         422 invalid_request          INVALID_ARGUMENT
    │   ├── ModelRequiredError      422 model_required           INVALID_ARGUMENT
    │   └── TaskMismatchError       422 task_mismatch            INVALID_ARGUMENT
    ├── NotReadyError               503 not_ready                UNAVAILABLE
    │   └── StoppingError           503 stopping                 UNAVAILABLE
    ├── OverloadedError             503 overloaded               UNAVAILABLE
    └── ClientClosedRequestError    499 client_closed_request    CANCELLED

`PROBLEMS` holds those rows and the rows of the errors raised below the HTTP layer
(`service.runtime.errors`, `service.preprocessing.errors`, the task layer's); a class
without a row of its own takes its nearest base's. `error_response` turns any
exception into the answer: a mapped error its row, FastAPI's request validation 422
`validation_error`, Starlette's own HTTP errors (unknown route, wrong method) their
status, anything else a plain 500 that shows nothing of the error. FastAPI's
handlers, the lean classify path and the middleware refusals all answer through it.
Every body has the same members: type, title, status, detail, instance, code,
request_id, plus `error` (= detail) because TF Serving and KServe clients read that.

Unexpected errors are logged once, with their traceback and request id, by
`RequestContextMiddleware`, which every path lets them reach; a mapped 500 (the
runtime failed on purpose) is logged here, without one.
"""

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from service.context import context_of
from service.preprocessing.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)
from service.runtime.errors import (
    DeadlineExceededError,
    InvalidInputError,
    ModelNotFoundError,
    ModelNotReadyError,
    QueueFullError,
    RuntimeServiceError,
    ServiceStoppingError,
    VersionNotFoundError,
)
from service.tasks.encoding import EncodingError
from service.tasks.errors import TaskRequestError

PROBLEM_MEDIA_TYPE = "application/problem+json"

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error raised by the HTTP layer; its row in `PROBLEMS` fixes status and code."""

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})


class UnauthorizedError(ApiError):
    pass


class ModelFileNotFoundError(ApiError):
    pass


class PayloadTooLargeError(ApiError, StarletteHTTPException):  # type: ignore[misc]
    """The body is over the limit.

    Also a Starlette `HTTPException` because it is raised from inside `receive`, where
    FastAPI's body parsing lets only those through (anything else becomes a 400).
    (Its `headers` is always a dict, never Starlette's None: hence the ignore.)
    """

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        StarletteHTTPException.__init__(self, 413, detail, dict(headers or {}))
        self.detail = detail
        self.headers = dict(headers or {})


class UnsupportedMediaTypeError(ApiError):
    pass


class InvalidRequestError(ApiError):
    pass


class ModelRequiredError(InvalidRequestError):
    pass


class TaskMismatchError(InvalidRequestError):
    pass


class NotReadyError(ApiError):
    pass


class StoppingError(NotReadyError):
    pass


class OverloadedError(ApiError):
    """Refused at admission, before the body was read: too many requests in progress."""


class ClientClosedRequestError(ApiError):
    """The client left before the answer was ready; its work was cancelled.

    Nobody reads the answer: 499 (nginx's "client closed request") is for the access
    log and the request metrics.
    """


class GrpcCode(StrEnum):
    """gRPC status codes by their `grpc.StatusCode` names; the gRPC layer maps them."""

    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    NOT_FOUND = "NOT_FOUND"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    INTERNAL = "INTERNAL"
    UNAVAILABLE = "UNAVAILABLE"
    UNAUTHENTICATED = "UNAUTHENTICATED"


@dataclass(frozen=True)
class Problem:
    """One row of the table: how an error class is answered over HTTP and gRPC.

    ``retry`` adds Retry-After (the error's ``retry_after`` seconds, else 1);
    ``logged`` writes the error to the log (a 500 the runtime raised on purpose).
    """

    status: int
    code: str
    title: str
    grpc: GrpcCode
    retry: bool = False
    logged: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def type(self) -> str:
        return f"urn:kerasserve:problem:{self.code}"


_G = GrpcCode
PROBLEMS: dict[type[Exception], Problem] = {
    # Raised by the HTTP layer.
    ApiError: Problem(400, "bad_request", "Bad request", _G.INVALID_ARGUMENT),
    UnauthorizedError: Problem(
        401,
        "unauthorized",
        "Missing or invalid API key",
        _G.UNAUTHENTICATED,
        headers=(("WWW-Authenticate", "Bearer"),),
    ),
    ModelFileNotFoundError: Problem(404, "file_not_found", "File not found", _G.NOT_FOUND),
    PayloadTooLargeError: Problem(
        413, "body_too_large", "Request body too large", _G.RESOURCE_EXHAUSTED
    ),
    UnsupportedMediaTypeError: Problem(
        415, "unsupported_media_type", "Unsupported media type", _G.INVALID_ARGUMENT
    ),
    InvalidRequestError: Problem(422, "invalid_request", "Invalid request", _G.INVALID_ARGUMENT),
    ModelRequiredError: Problem(422, "model_required", "Model required", _G.INVALID_ARGUMENT),
    TaskMismatchError: Problem(
        422, "task_mismatch", "Model does not do this task", _G.INVALID_ARGUMENT
    ),
    NotReadyError: Problem(503, "not_ready", "Service not ready", _G.UNAVAILABLE, retry=True),
    StoppingError: Problem(503, "stopping", "Service is shutting down", _G.UNAVAILABLE, retry=True),
    OverloadedError: Problem(503, "overloaded", "Server overloaded", _G.UNAVAILABLE, retry=True),
    ClientClosedRequestError: Problem(
        499, "client_closed_request", "Client closed request", _G.CANCELLED
    ),
    # Raised by the runtime, image preprocessing and the tasks.
    ModelNotFoundError: Problem(404, "model_not_found", "Unknown model", _G.NOT_FOUND),
    VersionNotFoundError: Problem(404, "version_not_found", "Unknown model version", _G.NOT_FOUND),
    ModelNotReadyError: Problem(
        503, "model_not_ready", "Model not ready", _G.UNAVAILABLE, retry=True
    ),
    QueueFullError: Problem(
        503, "queue_full", "Too many queued requests", _G.UNAVAILABLE, retry=True
    ),
    ServiceStoppingError: Problem(
        503, "stopping", "Service is shutting down", _G.UNAVAILABLE, retry=True
    ),
    DeadlineExceededError: Problem(
        504, "deadline_exceeded", "Deadline exceeded", _G.DEADLINE_EXCEEDED
    ),
    ImageDecodeError: Problem(
        400, "undecodable_image", "Image could not be decoded", _G.INVALID_ARGUMENT
    ),
    ImageTooLargeError: Problem(
        413, "image_too_large", "Image has too many pixels", _G.INVALID_ARGUMENT
    ),
    UnsupportedImageFormatError: Problem(
        415, "unsupported_media_type", "Unsupported image format", _G.INVALID_ARGUMENT
    ),
    EncodingError: Problem(422, "invalid_request", "Invalid request", _G.INVALID_ARGUMENT),
    TaskRequestError: Problem(422, "invalid_request", "Invalid request", _G.INVALID_ARGUMENT),
    InvalidInputError: Problem(422, "invalid_input", "Invalid model input", _G.INVALID_ARGUMENT),
    RuntimeServiceError: Problem(
        500, "runtime_error", "Model runtime error", _G.INTERNAL, logged=True
    ),
}

# Not domain errors, so not in the table, but answered in the same shape.
VALIDATION = Problem(422, "validation_error", "Invalid request", _G.INVALID_ARGUMENT)
INTERNAL = Problem(500, "internal_error", "Internal server error", _G.INTERNAL)

# Starlette's own HTTP errors (unknown route, wrong method, ...), by status.
HTTP_PROBLEMS: dict[int, Problem] = {
    400: Problem(400, "bad_request", "Bad request", _G.INVALID_ARGUMENT),
    401: Problem(401, "unauthorized", "Unauthorized", _G.UNAUTHENTICATED),
    404: Problem(404, "not_found", "Not found", _G.NOT_FOUND),
    405: Problem(405, "method_not_allowed", "Method not allowed", _G.UNIMPLEMENTED),
    413: Problem(413, "body_too_large", "Request body too large", _G.RESOURCE_EXHAUSTED),
    415: Problem(415, "unsupported_media_type", "Unsupported media type", _G.INVALID_ARGUMENT),
    422: Problem(422, "validation_error", "Invalid request", _G.INVALID_ARGUMENT),
    500: INTERNAL,
    503: Problem(503, "unavailable", "Service unavailable", _G.UNAVAILABLE),
}

# What the code that answers by itself catches; anything else is unexpected.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    *PROBLEMS,
    RequestValidationError,
    StarletteHTTPException,
)


def problem_of(exc: BaseException) -> Problem | None:
    """The row of ``exc``'s class or of its nearest base; None for an unmapped error."""
    for cls in type(exc).__mro__:
        problem = PROBLEMS.get(cls)
        if problem is not None:
            return problem
    return None


def problem_headers(problem: Problem, exc: BaseException) -> dict[str, str]:
    """The row's own headers, Retry-After when it asks for one, then the error's own."""
    headers = dict(problem.headers)
    if problem.retry:
        seconds = getattr(exc, "retry_after", 1.0)
        headers["Retry-After"] = str(max(1, math.ceil(seconds)))
    if isinstance(exc, ApiError):
        headers.update(exc.headers)
    return headers


def problem_body(
    *, status: int, code: str, title: str, detail: str, instance: str, request_id: str
) -> dict[str, Any]:
    """The RFC 9457 members plus the service's own `code`, `request_id` and `error`."""
    return {
        "type": f"urn:kerasserve:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        "request_id": request_id,
        "error": detail,
    }


def problem_response(body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    """A problem body serialised as `application/problem+json`."""
    return Response(
        content=orjson.dumps(body),
        status_code=int(body["status"]),
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _validation_errors(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]
    detail = "; ".join(
        f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in errors[:3]
    )
    return detail, errors


def error_response(exc: BaseException, instance: str, request_id: str) -> Response:
    """The problem response for any exception (see the module docstring)."""
    extra: dict[str, Any] = {}
    problem = problem_of(exc)
    if problem is not None:
        detail = exc.detail if isinstance(exc, ApiError) else str(exc)
        headers = problem_headers(problem, exc)
        if problem.logged:
            logger.error("runtime error: %s", exc, extra={"fields": {"code": problem.code}})
    elif isinstance(exc, RequestValidationError):
        problem, headers = VALIDATION, {}
        detail, extra["errors"] = _validation_errors(exc)
    elif isinstance(exc, StarletteHTTPException):
        problem = HTTP_PROBLEMS.get(exc.status_code) or Problem(
            exc.status_code, "http_error", "HTTP error", _G.UNKNOWN
        )
        detail = exc.detail if isinstance(exc.detail, str) else problem.title
        headers = dict(exc.headers or {})
    else:
        problem, headers = INTERNAL, {}
        detail = f"unexpected error; quote request id {request_id} when reporting it"
    body = problem_body(
        status=problem.status,
        code=problem.code,
        title=problem.title,
        detail=detail,
        instance=instance,
        request_id=request_id,
    )
    body.update(extra)
    return problem_response(body, headers)


async def _handle(request: Request, exc: Exception) -> Response:
    return error_response(exc, request.url.path, context_of(request.scope).request_id)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error through `error_response`.

    The mapped classes are registered one by one so that FastAPI answers them itself;
    the handler for `Exception` answers the rest, after which Starlette re-raises them
    for `RequestContextMiddleware` to log.
    """
    for error_class in EXPECTED_ERRORS:
        app.add_exception_handler(error_class, _handle)
    app.add_exception_handler(Exception, _handle)
