"""The FastAPI application: `create_app()` wires settings, metrics, middleware and routes.

Models are loaded in the lifespan (never at import), so importing this module is cheap
and each app owns its repository and metrics registry; the gRPC server (`service.rpc`)
starts there too, in the same event loop, once they are loaded. Shutdown marks the app
as stopping first (readiness 503, new work refused), then lets the repository answer
everything already queued within what is left of the drain timeout (one budget for
uvicorn's wait for open connections, gRPC's for its calls in progress, which it answers
after refusing new ones, and the repository's drain).
"""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.fast_classify import FastClassifyMiddleware
from service.api.middleware import (
    AdmissionMiddleware,
    BodyLimitMiddleware,
    RequestContextMiddleware,
)
from service.api.openapi import install_openapi
from service.api.problems import install_error_handlers
from service.api.router import install_routes
from service.config import Settings, get_settings
from service.metrics import ServiceMetrics
from service.ports import Repository
from service.rpc.server import start_rpc_server, stop_rpc_server
from service.runtime.repository import ModelRepository
from service.server.access_log import AccessLog
from service.server.admission import Admission
from service.server.heap import settle_startup_heap
from service.server.read_gate import ReadGate
from service.server.services import Lifecycle, LifespanState, Services

logger = logging.getLogger(__name__)

RepositoryFactory = Callable[[Settings, ServiceMetrics], Repository]


def default_repository(settings: Settings, metrics: ServiceMetrics) -> Repository:
    """The real TensorFlow-backed repository."""
    return ModelRepository(settings.runtime_settings(), observer=metrics)


def _lifespan(
    settings: Settings,
    metrics: ServiceMetrics,
    lifecycle: Lifecycle,
    factory: RepositoryFactory,
    access_log: AccessLog,
    admission: Admission,
) -> Callable[[FastAPI], AsyncIterator[LifespanState]]:
    async def lifespan(app: FastAPI) -> AsyncIterator[LifespanState]:
        repository = factory(settings, metrics)
        await repository.start()
        services = Services(settings, repository, metrics, lifecycle)
        try:  # gRPC, in this loop, once the models are loaded (none when grpc_port is 0)
            rpc = await start_rpc_server(services, access_log)
        except BaseException:
            await repository.stop(0)
            raise
        settle_startup_heap()
        logger.info("models loaded", extra={"fields": {"models": repository.names()}})
        read_gate = ReadGate(settings.max_reading_connections, settings.admission_timeout_s)
        try:
            yield {"services": services, "read_gate": read_gate, "admission": admission}
        finally:
            lifecycle.begin_stopping()
            budget = lifecycle.drain_budget(settings.drain_timeout_s)
            logger.info("draining", extra={"fields": {"timeout_s": round(budget, 3)}})
            # gRPC first, as uvicorn did for HTTP: it stops accepting calls (a balancer
            # sends new ones elsewhere) and answers those in progress while the batcher
            # still runs. Draining both at once let the repository refuse, UNAVAILABLE, a
            # call gRPC had accepted but not yet queued, which no balancer can replay.
            await stop_rpc_server(rpc, budget)
            await repository.stop(lifecycle.drain_budget(settings.drain_timeout_s))
            access_log.flush()
            logger.info("stopped")

    return lifespan


class ServiceApp(FastAPI):
    """FastAPI behind the service's own middleware.

    Request ids, the access log and metrics, admission, the body limit and the lean
    classify path run before FastAPI and Starlette see a request: their error,
    body-limit and telemetry layers cost about 5% of a small classify call, and the
    lean path answers without them. Everything else then goes through FastAPI as usual.
    A consequence: FastAPI's own OpenTelemetry spans do not cover the lean path (the
    service's metrics and access log do).
    """

    _outer: ASGIApp | None = None

    def wrap(self, build: Callable[[ASGIApp], ASGIApp]) -> None:
        """Put `build(FastAPI's own handling)` in front of every request."""
        self._outer = build(partial(FastAPI.__call__, self))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._outer is None:
            await super().__call__(scope, receive, send)
        else:
            await self._outer(scope, receive, send)


def _service_middleware(
    app: ASGIApp, settings: Settings, metrics: ServiceMetrics, log: AccessLog, admission: Admission
) -> ASGIApp:
    """Ours, innermost first: the lean path sits inside the body limit, request ids,
    logs and metrics; admission is outside the body limit (no body is read while
    waiting), inside CORS (a refusal still carries the CORS headers) and inside the
    request context (refusals are logged and counted)."""
    app = FastClassifyMiddleware(app)
    app = BodyLimitMiddleware(app, max_bytes=settings.max_body_bytes)
    app = AdmissionMiddleware(app, admission)
    if settings.cors_origins:
        app = CORSMiddleware(
            app,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "X-Seed", "Retry-After"],
        )
    return RequestContextMiddleware(app, metrics=metrics, access_log=log)


def create_app(
    settings: Settings | None = None, repository_factory: RepositoryFactory | None = None
) -> ServiceApp:
    """A new app; tests pass their own settings and, for unit tests, a fake repository."""
    settings = settings or get_settings()
    metrics = ServiceMetrics()
    lifecycle = Lifecycle()
    access_log = AccessLog()
    admission = Admission(
        settings.max_active_requests, settings.max_waiting_requests, settings.admission_timeout_s
    )
    lifespan = _lifespan(
        settings,
        metrics,
        lifecycle,
        repository_factory or default_repository,
        access_log,
        admission,
    )
    app = ServiceApp(
        title="kerasserve",
        summary="Versioned Keras SavedModels over HTTP with dynamic batching.",
        version="0.1.0",
        lifespan=asynccontextmanager(lifespan),
    )
    app.state.lifecycle = lifecycle
    app.state.metrics = metrics
    install_error_handlers(app)
    install_routes(app, with_playground=settings.playground)
    install_openapi(app, settings)
    app.wrap(
        partial(
            _service_middleware,
            settings=settings,
            metrics=metrics,
            log=access_log,
            admission=admission,
        )
    )
    return app
