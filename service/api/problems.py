"""Problem responses: any exception as RFC 9457 problem details, from the one error table.

`error_response` turns any exception into the answer: a mapped error its row of
`service.errors.PROBLEMS`, FastAPI's request validation 422 `validation_error`,
Starlette's own HTTP errors (unknown route, wrong method) their status, anything
else a plain 500 that shows nothing of the error. FastAPI's handlers, the lean
classify path and the middleware refusals all answer through it. Every body has the
same members: type, title, status, detail, instance, code, request_id, plus `error`
(= detail) because TF Serving and KServe clients read that.

Unexpected errors are logged once, with their traceback and request id, by
`RequestContextMiddleware`, which every path lets them reach; a mapped 500 (the
runtime failed on purpose) is logged here, without one.
"""

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from service.api.context import context_of
from service.errors import (
    INTERNAL,
    PROBLEMS,
    VALIDATION,
    ApiError,
    GrpcCode,
    PayloadTooLargeError,
    Problem,
    problem_body,
    problem_headers,
    problem_of,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"

logger = logging.getLogger(__name__)
_G = GrpcCode


class BodyTooLargeError(PayloadTooLargeError, StarletteHTTPException):  # type: ignore[misc]
    """The body is over the limit, raised while it is read.

    Also a Starlette `HTTPException` because it is raised from inside `receive`, where
    FastAPI's body parsing lets only those through (anything else becomes a 400).
    (Its `headers` is always a dict, never Starlette's None: hence the ignore.)
    """

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        StarletteHTTPException.__init__(self, 413, detail, dict(headers or {}))
        self.detail = detail
        self.headers = dict(headers or {})


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
