"""A gRPC client's deadline as the request's timeout in the batch queue."""

from typing import Any

from service.runtime.errors import DeadlineExceededError


def timeout_of(context: Any, request_timeout_s: float) -> float:
    """What is left of the call's deadline, at most the service's request timeout.

    Past the deadline already: DEADLINE_EXCEEDED before anything is queued.
    """
    remaining = context.time_remaining()
    if remaining is None:
        return request_timeout_s
    if remaining <= 0:
        raise DeadlineExceededError(0.0)
    return float(min(remaining, request_timeout_s))
