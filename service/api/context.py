"""Per-request facts shared by the middleware, the dependencies and the error handlers.

The request-context middleware creates one `RequestContext` per HTTP request and puts
it in the ASGI scope; dependencies fill in the model and version they resolved, and
the middleware reads them back for the access log line and the request metrics.
Requests that never named a model keep empty labels; names that did not resolve
become `_unknown`, so clients cannot create label values at will.
"""

import time
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Scope

_SCOPE_KEY = "kerasserve.context"
UNKNOWN_MODEL = "_unknown"  # Metric label for a model name the repository did not know.


@dataclass
class RequestContext:
    """What one request is about, as far as logs and metrics care."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    model: str = ""
    version: str = ""

    def record_model(self, name: str, version: int | None) -> None:
        """Label values for a model the repository resolved (so never unbounded)."""
        self.model = name
        self.version = "" if version is None else str(version)

    def record_unknown_model(self) -> None:
        """A name was asked for; until it resolves it counts as the fixed placeholder."""
        self.model, self.version = UNKNOWN_MODEL, ""


def attach_context(scope: Scope, context: RequestContext) -> None:
    scope[_SCOPE_KEY] = context


def context_of(scope: Scope | Any) -> RequestContext:
    """The request's context; a fresh one when no middleware made one (bare tests)."""
    existing = scope.get(_SCOPE_KEY)
    if isinstance(existing, RequestContext):
        return existing
    created = RequestContext(request_id="-")
    scope[_SCOPE_KEY] = created
    return created
