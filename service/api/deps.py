"""Typed dependencies: how routes reach settings, metrics and models.

Everything comes from the lifespan state (`request.state.services`), never from module
globals, so each app is self-contained and tests can swap any piece with
`app.dependency_overrides[get_repository] = lambda: fake`. The getters are `async def`
although they never await: FastAPI runs a plain `def` dependency in its thread pool,
a thread hop per dependency per request that cost more than the model itself.
"""

import secrets
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.context import context_of
from service.config import Settings
from service.errors import UnauthorizedError
from service.metrics import ServiceMetrics
from service.ports import Repository
from service.server.request_context import RequestContext
from service.server.services import Lifecycle, Services
from service.tasks.resolver import ModelResolver

_bearer = HTTPBearer(auto_error=False, description="The API key, when one is configured.")


async def get_services(request: Request) -> Services:
    services = getattr(request.state, "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("the app's lifespan did not run; start it through create_app()")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_repository(services: ServicesDep) -> Repository:
    return services.repository


async def get_metrics(services: ServicesDep) -> ServiceMetrics:
    return services.metrics


async def get_lifecycle(services: ServicesDep) -> Lifecycle:
    return services.lifecycle


async def get_context(request: Request) -> RequestContext:
    return context_of(request.scope)


SettingsDep = Annotated[Settings, Depends(get_settings)]
RepositoryDep = Annotated[Repository, Depends(get_repository)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
LifecycleDep = Annotated[Lifecycle, Depends(get_lifecycle)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


def check_api_key(settings: Settings, scheme: str | None, credentials: str | None) -> None:
    """Raise `UnauthorizedError` unless the request carries the configured key."""
    if settings.api_key is None:
        return
    if credentials is None or (scheme or "").lower() != "bearer":
        raise UnauthorizedError("send the API key as 'Authorization: Bearer <key>'")
    expected = settings.api_key.get_secret_value().encode()
    if not secrets.compare_digest(credentials.encode(), expected):
        raise UnauthorizedError("the API key is not valid")


def _check_key(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> None:
    if credentials is None:
        check_api_key(settings, None, None)
    else:
        check_api_key(settings, credentials.scheme, credentials.credentials)


async def require_api_key(settings: SettingsDep, credentials: BearerDep) -> None:
    """Guards inference and management routes when an API key is configured."""
    _check_key(settings, credentials)


async def require_api_key_if_protected(settings: SettingsDep, credentials: BearerDep) -> None:
    """Guards health and metrics only when `protect_health_and_metrics` is set."""
    if settings.protect_health_and_metrics:
        _check_key(settings, credentials)


def resolver_for(services: Services, context: RequestContext) -> ModelResolver:
    """The resolver for code that answers outside FastAPI's dependencies (the lean path)."""
    return ModelResolver(
        services.repository, services.lifecycle, context, services.settings.default_models
    )


async def get_resolver(
    repository: RepositoryDep, lifecycle: LifecycleDep, context: ContextDep, settings: SettingsDep
) -> ModelResolver:
    return ModelResolver(repository, lifecycle, context, settings.default_models)


ResolverDep = Annotated[ModelResolver, Depends(get_resolver)]

ROUTE_KEY_HEADER = "x-kerasserve-route-key"
RouteKeyDep = Annotated[
    str | None,
    Header(
        alias=ROUTE_KEY_HEADER,
        description="Sticky traffic split: the same key reaches the same version "
        "while versions.json's weights stand.",
    ),
]
VersionLabel = Annotated[
    str | None,
    Query(
        description="A version label from the model's versions.json (not with `version`)",
        min_length=1,
    ),
]
