"""Every error the service answers, in one table: problem code, HTTP status, gRPC code.

The errors the transports raise themselves::

    ApiError                        400 bad_request              INVALID_ARGUMENT
    ├── VersionAndLabelError        400 version_and_label        INVALID_ARGUMENT
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

The task layer's (`EncodingError`, `TaskRequestError`, `WrongTaskError`) are defined
here too. `PROBLEMS` holds those rows and the rows of the errors raised below
(`service.runtime.errors`, `service.preprocessing.errors`); a class without a row of
its own takes its nearest base's. Every transport answers through this table: the
HTTP layer's problem responses (`service.api.problems`) and the gRPC status codes.
No web framework is imported here, so the tasks and the runtime's callers share it.
"""

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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
    VersionLabelNotFoundError,
    VersionLabelPendingError,
    VersionNotFoundError,
)

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a transport raises itself; its row in `PROBLEMS` fixes status and code."""

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})


class UnauthorizedError(ApiError):
    pass


class VersionAndLabelError(ApiError):
    """A request named both a version and a version label: which one is meant?"""


class ModelFileNotFoundError(ApiError):
    pass


class PayloadTooLargeError(ApiError):
    """A request body or message over the size limit."""


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


class EncodingError(InvalidInputError):
    """The request's base64 or `{"b64": ...}` wrapping is malformed (not the image itself)."""


class TaskRequestError(InvalidInputError):
    """A task's parameters do not fit the model or the limits."""


class WrongTaskError(InvalidInputError):
    """The model was asked for a task it does not do."""


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
    VersionAndLabelError: Problem(
        400, "version_and_label", "Both a version and a version label", _G.INVALID_ARGUMENT
    ),
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
    VersionLabelNotFoundError: Problem(
        404, "version_label_not_found", "Unknown version label", _G.NOT_FOUND
    ),
    VersionLabelPendingError: Problem(
        503, "version_label_pending", "Version label pending", _G.UNAVAILABLE, retry=True
    ),
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
