"""Where an HTTP request's `RequestContext` lives: in its ASGI scope.

The request-context middleware creates one per request and attaches it; dependencies
and error handlers find it again with `context_of`.
"""

from typing import Any

from starlette.types import Scope

from service.server.request_context import RequestContext

_SCOPE_KEY = "kerasserve.context"


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
