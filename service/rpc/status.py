"""The one place where the error table's gRPC code names become `grpc.StatusCode`s.

Domain errors carry their gRPC code in `service.errors.PROBLEMS`; `status_of` turns
any exception into (code, details, trailing metadata), with `retry-after` (seconds)
where REST's 503 would carry Retry-After. `RpcStatusError` is for answers that are
facts of a wire protocol rather than domain errors (TF Serving's UNIMPLEMENTED for a
MultiInference task it cannot run, the health protocol's NOT_FOUND).
"""

import logging
from dataclasses import dataclass

import grpc

from service.errors import ApiError, GrpcCode, problem_headers, problem_of

logger = logging.getLogger(__name__)

STATUS_CODES: dict[GrpcCode, grpc.StatusCode] = {
    code: grpc.StatusCode[code.value] for code in GrpcCode
}
RETRY_AFTER = "retry-after"
REQUEST_ID = "x-request-id"


class RpcStatusError(Exception):
    """An answer a gRPC protocol itself prescribes: this code, this message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class RpcStatus:
    code: grpc.StatusCode
    details: str
    trailers: tuple[tuple[str, str], ...] = ()


def status_of(exc: BaseException, request_id: str) -> RpcStatus:
    """The status for ``exc``: its row's code, else INTERNAL showing nothing of it."""
    if isinstance(exc, RpcStatusError):
        return RpcStatus(exc.code, exc.details)
    problem = problem_of(exc)
    if problem is None:
        logger.error(
            "unhandled error in a gRPC call",
            exc_info=exc,
            extra={"fields": {"request_id": request_id}},
        )
        detail = f"unexpected error; quote request id {request_id} when reporting it"
        return RpcStatus(grpc.StatusCode.INTERNAL, detail)
    if problem.logged:
        logger.error("runtime error: %s", exc, extra={"fields": {"code": problem.code}})
    detail = exc.detail if isinstance(exc, ApiError) else str(exc)
    retry = problem_headers(problem, exc).get("Retry-After")
    trailers = ((RETRY_AFTER, retry),) if retry is not None else ()
    return RpcStatus(STATUS_CODES[problem.grpc], detail, trailers)
