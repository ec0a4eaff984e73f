"""What every gRPC call goes through, as REST requests go through the middleware.

`CallInterceptor` wraps each method handler: a request id (the client's
`x-request-id` metadata when sane, else a fresh one, sent back in the trailers), the
API key (`authorization: Bearer <key>` metadata; health, liveness and reflection stay
open unless `protect_health_and_metrics`), a cap on calls in progress (beyond
`max_active_requests + max_waiting_requests` a call is refused UNAVAILABLE with
`retry-after`, as REST's admission does), the error table for whatever a servicer
raises, and one access-log line and the request metrics (`protocol="grpc"`, the
method as endpoint, the status code's name as status) per call.

Servicers reach the call's `RequestContext` (what the resolver records the model
into) through `current_call()`: the wrapper runs in the call's own task.
"""

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import grpc

from service.config import Settings
from service.errors import InvalidRequestError, OverloadedError, UnauthorizedError
from service.metrics import ServiceMetrics
from service.rpc.status import REQUEST_ID, RpcStatus, status_of
from service.server.access_log import AccessWriter
from service.server.request_context import RequestContext

_CURRENT: ContextVar[RequestContext] = ContextVar("kerasserve_rpc_call")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
ROUTE_KEY = "x-kerasserve-route-key"

# Methods answered whatever the key and the load: probes must never queue behind work.
OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.",
    "/inference.GRPCInferenceService/ServerLive",
    "/inference.GRPCInferenceService/ServerReady",
    "/inference.GRPCInferenceService/ServerMetadata",
)


class _StillAccepting:
    """What the servicers' resolvers see of a shutdown: never stopping. REST refuses new
    work with a 503 from SIGTERM on, which a balancer replays elsewhere; a gRPC refusal
    travels in the trailers of an HTTP 200, which none can replay. So gRPC answers every
    call it accepts and stops accepting at the transport instead (`RpcServer.stop`)."""

    stopping = False


STILL_ACCEPTING = _StillAccepting()


def current_call() -> RequestContext:
    """The context of the gRPC call being answered (a blank one outside any call)."""
    call = _CURRENT.get(None)
    return call if call is not None else RequestContext(request_id="-")


def _request_id(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID and isinstance(value, str) and _VALID_REQUEST_ID.match(value):
            return value
    return secrets.token_hex(16)


def _route_key(metadata: Any) -> str | None:
    """`x-kerasserve-route-key`: the same key reaches the same version of a traffic split."""
    return next((v for k, v in metadata or () if k == ROUTE_KEY and isinstance(v, str)), None)


def check_bearer(settings: Settings, metadata: Any) -> None:
    """`UnauthorizedError` unless the metadata carries `authorization: Bearer <key>`."""
    if settings.api_key is None:
        return
    value = next((v for k, v in metadata or () if k == "authorization"), None)
    scheme, _, credentials = str(value or "").partition(" ")
    if value is None or scheme.lower() != "bearer":
        raise UnauthorizedError("send the API key as 'authorization: Bearer <key>' metadata")
    expected = settings.api_key.get_secret_value().encode()
    if not secrets.compare_digest(credentials.strip().encode(), expected):
        raise UnauthorizedError("the API key is not valid")


class CallInterceptor(grpc.aio.ServerInterceptor):
    """Request ids, the key, the cap, errors, the access log and metrics for every call."""

    def __init__(self, settings: Settings, metrics: ServiceMetrics, log: AccessWriter) -> None:
        self.settings = settings
        self.metrics = metrics
        self.log = log
        self.active = 0
        self.limit = settings.max_active_requests + settings.max_waiting_requests
        self.last_started = 0.0  # monotonic time of the last call that is not a probe

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method, metadata = details.method, details.invocation_metadata
        kinds = {
            "request_deserializer": _tolerant(handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            unary = self._unary(handler.unary_unary, method, metadata)
            return grpc.unary_unary_rpc_method_handler(unary, **kinds)
        if handler.unary_stream is not None:
            stream = self._stream(handler.unary_stream, method, metadata)
            return grpc.unary_stream_rpc_method_handler(stream, **kinds)
        if handler.stream_stream is not None:
            stream = self._stream(handler.stream_stream, method, metadata, streaming=True)
            return grpc.stream_stream_rpc_method_handler(stream, **kinds)
        return handler  # client streaming: no service of ours has one

    def _admit(self, method: str, metadata: Any) -> bool:
        """Check the key and the cap; True when the call counts against the cap."""
        if method.startswith(OPEN_PREFIXES):
            if self.settings.protect_health_and_metrics:
                check_bearer(self.settings, metadata)
            return False
        check_bearer(self.settings, metadata)
        self.last_started = time.monotonic()
        if self.active >= self.limit:
            raise OverloadedError(f"the server is busy ({self.active} calls in progress)")
        self.active += 1
        return True

    @asynccontextmanager
    async def _call(self, method: str, metadata: Any, context: Any) -> AsyncIterator[None]:
        """One call's request id, admission, error mapping, access-log line and metrics."""
        call = RequestContext(_request_id(metadata), route_key=_route_key(metadata))
        token, counted, code = _CURRENT.set(call), False, "OK"
        try:
            counted = self._admit(method, metadata)
            call.in_company = self.active > 1
            context.set_trailing_metadata(((REQUEST_ID, call.request_id),))
            yield
        except asyncio.CancelledError:
            code = _cancelled(context)
            raise
        except grpc.aio.AbortError:  # a library servicer's own answer (health, reflection)
            code = _aborted(context)
            raise
        except Exception as exc:
            status = _status(exc, call)
            code = status.code.name
            await context.abort(status.code, status.details, status.trailers)
        finally:
            _CURRENT.reset(token)
            self._finish(method, call, code, counted)

    def _unary(self, inner: Any, method: str, metadata: Any) -> Any:
        async def behaviour(request: Any, context: Any) -> Any:
            async with self._call(method, metadata, context):
                return await inner(_checked(request), context)

        return behaviour

    def _stream(self, inner: Any, method: str, metadata: Any, streaming: bool = False) -> Any:
        async def behaviour(request: Any, context: Any) -> AsyncIterator[Any]:
            async with self._call(method, metadata, context):
                request = _checked_stream(request) if streaming else _checked(request)
                async for response in inner(request, context):
                    yield response

        return behaviour

    def _finish(self, method: str, call: RequestContext, code: str, counted: bool) -> None:
        if counted:
            self.active -= 1
        seconds = time.perf_counter() - call.started
        self.metrics.observe_request(
            model=call.model,
            version=call.version,
            endpoint=method,
            status=code,
            seconds=seconds,
            protocol="grpc",
        )
        self.log(
            {
                "request_id": call.request_id,
                "protocol": "grpc",
                "method": "POST",
                "path": method,
                "route": method,
                "model": call.model or None,
                "version": call.version or None,
                "status": code,
                "latency_ms": round(seconds * 1000, 3),
            }
        )


class _Malformed:
    """A message that did not parse; the call answers INVALID_ARGUMENT, not UNKNOWN."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """The handler's deserializer, returning `_Malformed` instead of raising (gRPC itself
    would answer UNKNOWN and log a traceback for every malformed message)."""
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:
            return _Malformed(exc)

    return parse


def _checked(request: Any) -> Any:
    if isinstance(request, _Malformed):
        raise InvalidRequestError(f"the request is not a valid message: {request.error}")
    return request


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _checked(request)


def _cancelled(context: Any) -> str:
    """A call cancelled under us: its deadline passed, or the client left."""
    remaining = context.time_remaining()
    return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"


def _aborted(context: Any) -> str:
    code = context.code()
    return str(code.name) if isinstance(code, grpc.StatusCode) else "UNKNOWN"


def _status(exc: Exception, call: RequestContext) -> RpcStatus:
    """``exc`` through the error table, the request id added to its trailers."""
    status = status_of(exc, call.request_id)
    trailers = (*status.trailers, (REQUEST_ID, call.request_id))
    return RpcStatus(status.code, status.details, trailers)
