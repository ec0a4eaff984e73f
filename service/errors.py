"""Every error the service answers, mapped to RFC 9457 problem details in one place.

    ApiError                        raised by the HTTP layer itself
    ├── UnauthorizedError           401 unauthorized
    ├── ModelFileNotFoundError      404 file_not_found
    ├── PayloadTooLargeError        413 body_too_large
    ├── UnsupportedMediaTypeError   415 unsupported_media_type
    ├── InvalidRequestError         422 invalid_request
    │   ├── ModelRequiredError      422 model_required
    │   └── TaskMismatchError       422 task_mismatch
    ├── NotReadyError               503 not_ready
    │   └── StoppingError           503 stopping
    └── OverloadedError             503 overloaded

Errors from the runtime and image preprocessing (`service.runtime.errors`,
`service.preprocessing.errors`) are mapped by `RUNTIME_PROBLEMS`; FastAPI validation
errors become 422 `validation_error` and Starlette's own 404/405 keep their status.
Every body has the same members: type, title, status, detail, instance, code,
request_id, plus `error` (= detail) because TF Serving and KServe clients read that.
"""

import logging
import math
from collections.abc import Mapping
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
    """An error raised by the HTTP layer; subclasses fix the status and code."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})


class UnauthorizedError(ApiError):
    status, code, title = 401, "unauthorized", "Missing or invalid API key"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class ModelFileNotFoundError(ApiError):
    status, code, title = 404, "file_not_found", "File not found"


class PayloadTooLargeError(ApiError):
    status, code, title = 413, "body_too_large", "Request body too large"


class UnsupportedMediaTypeError(ApiError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class InvalidRequestError(ApiError):
    status, code, title = 422, "invalid_request", "Invalid request"


class ModelRequiredError(InvalidRequestError):
    code, title = "model_required", "Model required"


class TaskMismatchError(InvalidRequestError):
    code, title = "task_mismatch", "Model does not do this task"


class NotReadyError(ApiError):
    status, code, title = 503, "not_ready", "Service not ready"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class StoppingError(NotReadyError):
    code, title = "stopping", "Service is shutting down"


class OverloadedError(ApiError):
    """Refused at admission, before the body was read: too many requests in progress."""

    status, code, title = 503, "overloaded", "Server overloaded"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class ClientClosedRequestError(ApiError):
    """The client left before the answer was ready; its work was cancelled.

    Nobody reads the answer: 499 (nginx's "client closed request") is for the access
    log and the request metrics.
    """

    status, code, title = 499, "client_closed_request", "Client closed request"


# status, code, title for errors raised below the HTTP layer.
RUNTIME_PROBLEMS: dict[type[Exception], tuple[int, str, str]] = {
    ModelNotFoundError: (404, "model_not_found", "Unknown model"),
    VersionNotFoundError: (404, "version_not_found", "Unknown model version"),
    ModelNotReadyError: (503, "model_not_ready", "Model not ready"),
    QueueFullError: (503, "queue_full", "Too many queued requests"),
    ServiceStoppingError: (503, "stopping", "Service is shutting down"),
    DeadlineExceededError: (504, "deadline_exceeded", "Deadline exceeded"),
    ImageDecodeError: (400, "undecodable_image", "Image could not be decoded"),
    ImageTooLargeError: (413, "image_too_large", "Image has too many pixels"),
    UnsupportedImageFormatError: (415, "unsupported_media_type", "Unsupported image format"),
    EncodingError: (422, "invalid_request", "Invalid request"),
    TaskRequestError: (422, "invalid_request", "Invalid request"),
    InvalidInputError: (422, "invalid_input", "Invalid model input"),
    RuntimeServiceError: (500, "runtime_error", "Model runtime error"),
}

# Codes for Starlette's own HTTP errors (unknown route, wrong method, ...).
HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("body_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_error", "Invalid request"),
    500: ("internal_error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


def runtime_problem(exc: Exception) -> tuple[int, str, str, dict[str, str]]:
    """Status, code, title and headers for a runtime or preprocessing error."""
    for cls in type(exc).__mro__:
        if cls in RUNTIME_PROBLEMS:
            status, code, title = RUNTIME_PROBLEMS[cls]
            return status, code, title, _retry_headers(exc, status)
    return 500, "internal_error", "Internal server error", {}


def _retry_headers(exc: Exception, status: int) -> dict[str, str]:
    if status != 503:
        return {}
    seconds = exc.retry_after if isinstance(exc, QueueFullError) else 1.0
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


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


def _problem_for(
    request: Request, status: int, code: str, title: str, detail: str
) -> dict[str, Any]:
    return problem_body(
        status=status,
        code=code,
        title=title,
        detail=detail,
        instance=request.url.path,
        request_id=context_of(request.scope).request_id,
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    body = _problem_for(request, exc.status, exc.code, exc.title, exc.detail)
    return problem_response(body, exc.headers)


async def _runtime_error(request: Request, exc: Exception) -> Response:
    status, code, title, headers = runtime_problem(exc)
    if status >= 500 and status != 503 and status != 504:
        logger.error("runtime error: %s", exc, extra={"fields": {"code": code}})
    return problem_response(_problem_for(request, status, code, title, str(exc)), headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]
    detail = "; ".join(
        f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in errors[:3]
    )
    body = _problem_for(request, 422, "validation_error", "Invalid request", detail)
    body["errors"] = errors
    return problem_response(body)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code, title = HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    body = _problem_for(request, exc.status_code, code, title, detail)
    return problem_response(body, exc.headers)


def problem_for_exception(exc: Exception, path: str, request_id: str) -> Response | None:
    """The problem response the handlers below give for ``exc``; None for an unmapped error.

    For code that answers outside FastAPI's exception handling (the lean classify path).
    """
    if isinstance(exc, ApiError):
        status, code, title, headers = exc.status, exc.code, exc.title, exc.headers
        detail = exc.detail
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        code, title = HTTP_CODES.get(status, ("http_error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(exc.headers or {})
    elif isinstance(exc, tuple(RUNTIME_PROBLEMS)):
        status, code, title, headers = runtime_problem(exc)
        detail = str(exc)
    else:
        return None
    body = problem_body(
        status=status, code=code, title=title, detail=detail, instance=path, request_id=request_id
    )
    return problem_response(body, headers)


def internal_error_response(path: str, request_id: str) -> Response:
    """The plain 500 for an error nobody mapped: no internals, the request id to quote."""
    body = problem_body(
        status=500,
        code="internal_error",
        title="Internal server error",
        detail=f"unexpected error; quote request id {request_id} when reporting it",
        instance=path,
        request_id=request_id,
    )
    return problem_response(body)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Starlette's outermost layer answers with this, then re-raises for the request
    # middleware to log with the request id.
    return internal_error_response(request.url.path, context_of(request.scope).request_id)


def install_error_handlers(app: FastAPI) -> None:
    """Route every known error class to its problem-details handler."""
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error_class in RUNTIME_PROBLEMS:
        app.add_exception_handler(error_class, _runtime_error)
