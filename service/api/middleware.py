"""Pure ASGI middleware: request ids, access log, request metrics, admission, body limit.

Pure ASGI (not `BaseHTTPMiddleware`) because these wrap every request and must not add
a task or buffer bodies. `RequestContextMiddleware` is also the last line of defence:
an exception nobody mapped is logged with its request id and answered as a plain 500
problem, so a stack trace never reaches a client. `AdmissionMiddleware` bounds the
requests a process works on at once, before any body is read.
"""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.context import attach_context, context_of
from service.api.problems import BodyTooLargeError, error_response
from service.errors import OverloadedError
from service.metrics import ServiceMetrics
from service.server.access_log import AccessLog
from service.server.admission import ADMITTED_KEY, ARRIVED_KEY, Admission, held_back
from service.server.request_context import RequestContext, request_id_from

REQUEST_ID_HEADER = "x-request-id"
VERSION_HEADER = "x-kerasserve-version"
REQUEST_ID_BYTES = REQUEST_ID_HEADER.encode()
VERSION_BYTES = VERSION_HEADER.encode()
UNMATCHED_ENDPOINT = "unmatched"

logger = logging.getLogger(__name__)


def header_value(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (lower-case ``name``), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def incoming_request_id(scope: Scope) -> str:
    """The client's X-Request-ID when it is sane, else a fresh random id."""
    return request_id_from(header_value(scope, REQUEST_ID_BYTES))


def endpoint_of(scope: Scope) -> str:
    """The route template (bounded label value), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ENDPOINT


class RequestContextMiddleware:
    """Request id in and out, one access log line and the request metrics."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, access_log: AccessLog) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        arrived = scope.get(ARRIVED_KEY)  # it waited for a slot at its connection
        context = RequestContext(request_id, arrived or time.perf_counter())
        attach_context(scope, context)
        response = _ResponseWatch(send, context)
        try:
            await self.app(scope, receive, response.send)
        except Exception as exc:
            logger.exception(
                "unhandled error", extra={"fields": {"request_id": context.request_id}}
            )
            if not response.started:
                error = error_response(exc, str(scope.get("path", "")), context.request_id)
                await error(scope, receive, response.send)
        finally:
            self._finish(scope, context, response.status)

    def _finish(self, scope: Scope, context: RequestContext, status: int) -> None:
        seconds = time.perf_counter() - context.started
        endpoint = endpoint_of(scope)
        self.metrics.observe_request(
            model=context.model,
            version=context.version,
            endpoint=endpoint,
            status=status,
            seconds=seconds,
        )
        fields = {
            "request_id": context.request_id,
            "method": scope.get("method"),
            "path": scope.get("path"),
            "route": endpoint,
            "model": context.model or None,
            "version": context.version or None,
            "status": status,
            "latency_ms": round(seconds * 1000, 3),
        }
        self.access_log(fields)


class _ResponseWatch:
    """Remembers the status and adds the request id header as the response starts, and
    which version answered (`X-Kerasserve-Version`) when the request reached a model."""

    def __init__(self, send: Send, context: RequestContext) -> None:
        self._send = send
        self._context = context
        self.started = False
        self.status = 500

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = int(message["status"])
            # Raw pairs appended: every response here is built by this app, and no route
            # sets these two headers itself (MutableHeaders would search and rebuild).
            added = [(REQUEST_ID_BYTES, self._context.request_id.encode("latin-1"))]
            if self._context.version:
                added.append((VERSION_BYTES, self._context.version.encode("latin-1")))
            message["headers"] = [*message.get("headers", ()), *added]
        await self._send(message)


class AdmissionMiddleware:
    """Holds a request back until it has a slot (`service.server.admission`).

    A request the connection already admitted or refused says so in its scope; any
    other waits here, its body unread. Refusals are 503 `overloaded` problems with
    Retry-After, answered inside the request context so they are logged and counted.
    Probes (`service.server.admission.PROBE_PATHS`) and CORS preflights are never held back.
    """

    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not held_back(scope):
            await self.app(scope, receive, send)
            return
        admitted = scope.get(ADMITTED_KEY)
        if admitted is None:
            admitted = self.admission.try_enter() or await self.admission.wait()
        if not admitted:
            await self._refuse(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.release()

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        admission = self.admission
        error = OverloadedError(
            f"the server is busy ({admission.active} requests in progress, "
            f"{admission.waiting} waiting); retry later"
        )
        response = error_response(error, scope["path"], context_of(scope).request_id)
        await response(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes`: at once from Content-Length, else mid-stream."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header_value(scope, b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
            else:  # the HTTP parser reads no more than the declared length: nothing to count
                await self.app(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _detail(self) -> str:
        return f"request body exceeds the limit of {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Declared too large: answered before any of the body is read, so the
        # connection cannot be reused.
        error = BodyTooLargeError(self._detail(), headers={"Connection": "close"})
        response = error_response(error, str(scope.get("path", "")), context_of(scope).request_id)
        await response(scope, receive, send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLargeError(self._detail())
            return message

        return counted
