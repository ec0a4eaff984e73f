"""What every gRPC call goes through, as REST requests go through the middleware.

`CallPolicy` wraps each method handler once: a request id (the client's
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
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Any, NoReturn

import grpc

from service.config import Settings
from service.errors import InvalidRequestError, OverloadedError, UnauthorizedError
from service.metrics import ServiceMetrics
from service.rpc.status import REQUEST_ID, RpcStatus, status_of
from service.server.access_log import AccessWriter
from service.server.request_context import RequestContext, request_id_from

# Every this many calls, one queues for a batch even when it looks alone. grpc.aio hands
# the loop one call at a time, so calls that each run at once end before the next is
# seen and always look alone, even at 64 clients (V2 PNG calls stayed so: 1.00 calls in
# progress on average). One call that waits lets the others arrive and join its batch;
# from then on they are in company.
LOOK_FOR_COMPANY = 16
_CURRENT: ContextVar[RequestContext] = ContextVar("kerasserve_rpc_call")
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


def _identity(metadata: Any) -> tuple[str, str | None]:
    """The call's request id (the client's when sane) and its route key, if any
    (`x-kerasserve-route-key`: the same key reaches the same version of a split)."""
    given = route_key = None
    for key, value in metadata or ():
        if key == REQUEST_ID and given is None and isinstance(value, str):
            given = value
        elif key == ROUTE_KEY and route_key is None and isinstance(value, str):
            route_key = value
    return request_id_from(given), route_key


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


class CallPolicy:
    """Request ids, the key, the cap, errors, the access log and metrics for every call.

    Each method handler is wrapped once, when the services are registered
    (`service.rpc.handlers`), not per call as a `grpc.aio.ServerInterceptor` would:
    an interceptor costs every call an extra coroutine and a fresh handler.
    """

    def __init__(self, settings: Settings, metrics: ServiceMetrics, log: AccessWriter) -> None:
        self.settings = settings
        self.metrics = metrics
        self.log = log
        self.active = 0
        self.limit = settings.max_active_requests + settings.max_waiting_requests
        self.last_started = 0.0  # monotonic time of the last call that is not a probe
        self.admitted = 0

    def wrap(self, method: str, handler: Any) -> Any:
        """``handler`` (a `grpc.RpcMethodHandler` of ``method``) behind this policy."""
        kinds = {
            "request_deserializer": _tolerant(handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        probe = method.startswith(OPEN_PREFIXES)
        if handler.unary_unary is not None:
            unary = self._unary(handler.unary_unary, method, probe)
            return grpc.unary_unary_rpc_method_handler(unary, **kinds)
        if handler.unary_stream is not None:
            stream = self._stream(handler.unary_stream, method, probe)
            return grpc.unary_stream_rpc_method_handler(stream, **kinds)
        if handler.stream_stream is not None:
            stream = self._stream(handler.stream_stream, method, probe, streaming=True)
            return grpc.stream_stream_rpc_method_handler(stream, **kinds)
        return handler  # client streaming: no service of ours has one

    def _unary(self, inner: Any, method: str, probe: bool) -> Any:
        async def behaviour(request: Any, context: Any) -> Any:
            call = _Call(self, method, probe, context)
            try:
                call.admit()
                return await inner(_checked(request), context)
            except BaseException as exc:
                await call.fail(exc)
            finally:
                call.finish()

        return behaviour

    def _stream(self, inner: Any, method: str, probe: bool, streaming: bool = False) -> Any:
        async def behaviour(request: Any, context: Any) -> AsyncIterator[Any]:
            call = _Call(self, method, probe, context)
            try:
                call.admit()
                request = _checked_stream(request) if streaming else _checked(request)
                async for response in inner(request, context):
                    yield response
            except BaseException as exc:
                await call.fail(exc)
            finally:
                call.finish()

        return behaviour

    def admit(self, probe: bool, metadata: Any) -> bool:
        """Check the key and the cap; True when the call counts against the cap."""
        if probe:
            if self.settings.protect_health_and_metrics:
                check_bearer(self.settings, metadata)
            return False
        check_bearer(self.settings, metadata)
        self.last_started = time.monotonic()
        if self.active >= self.limit:
            raise OverloadedError(f"the server is busy ({self.active} calls in progress)")
        self.active += 1
        return True

    def finish(self, method: str, call: RequestContext, code: str, counted: bool) -> None:
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


class _Call:
    """One call in progress: its `RequestContext` (current while it runs), whether it
    counts against the cap, and the status code it ends with."""

    __slots__ = (
        "call",
        "code",
        "context",
        "counted",
        "metadata",
        "method",
        "policy",
        "probe",
        "token",
    )

    def __init__(self, policy: CallPolicy, method: str, probe: bool, context: Any) -> None:
        self.policy, self.method, self.probe, self.context = policy, method, probe, context
        self.metadata = context.invocation_metadata()
        request_id, route_key = _identity(self.metadata)
        self.call = RequestContext(request_id, route_key=route_key)
        self.token = _CURRENT.set(self.call)
        self.counted, self.code = False, "OK"

    def admit(self) -> None:
        self.counted = self.policy.admit(self.probe, self.metadata)
        policy = self.policy
        policy.admitted += 1
        self.call.in_company = policy.active > 1 or policy.admitted % LOOK_FOR_COMPANY == 0
        self.context.set_trailing_metadata(((REQUEST_ID, self.call.request_id),))

    async def fail(self, exc: BaseException) -> NoReturn:
        """Note the code ``exc`` ends the call with; answer an error through the table."""
        if isinstance(exc, asyncio.CancelledError):
            self.code = _cancelled(self.context)  # the deadline passed, or the client left
        elif isinstance(exc, grpc.aio.AbortError):  # a library servicer's own answer
            self.code = _aborted(self.context)
        elif isinstance(exc, Exception):
            status = _status(exc, self.call)
            self.code = status.code.name
            await self.context.abort(status.code, status.details, status.trailers)
        else:  # the stream was closed under its generator
            self.code = "CANCELLED"
        raise exc

    def finish(self) -> None:
        _CURRENT.reset(self.token)
        self.policy.finish(self.method, self.call, self.code, self.counted)


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
