"""Typed dependencies: how routes reach settings, metrics and models.

Everything comes from the lifespan state (`request.state.services`), never from module
globals, so each app is self-contained and tests can swap any piece with
`app.dependency_overrides[get_repository] = lambda: fake`. The getters are `async def`
although they never await: FastAPI runs a plain `def` dependency in its thread pool,
a thread hop per dependency per request that cost more than the model itself.
"""

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.config import Settings
from service.context import RequestContext, context_of
from service.errors import ModelRequiredError, StoppingError, TaskMismatchError, UnauthorizedError
from service.metrics import ServiceMetrics
from service.ports import Model, Repository
from service.state import Lifecycle, Services

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


@dataclass(frozen=True)
class ModelResolver:
    """Turns a model name (and version) from a request into a loaded model.

    ``defaults`` maps a task to the model used when a request names none
    (`KERASSERVE_DEFAULT_MODELS`); without one, the only model of that task is used.
    """

    repository: Repository
    lifecycle: Lifecycle
    context: RequestContext
    defaults: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str, version: int | None = None, *, task: str | None = None) -> Model:
        """The model, or a mapped error: 404 unknown, 503 not ready/stopping, 422 task."""
        if self.lifecycle.stopping:
            raise StoppingError("the service is shutting down and accepts no new work")
        self.context.record_unknown_model()
        model = self.repository.get(name, version)
        self.context.record_model(model.name, model.version)
        if task is not None and model.task != task:
            raise TaskMismatchError(
                f"model {name!r} is a {model.task} model; this endpoint needs a {task} model"
            )
        return model

    def get_for_task(self, name: str | None, version: int | None, task: str) -> Model:
        """Like `get`, but `name` may be omitted: the task's default model is used."""
        return self.get(name or self.default_for(task), version, task=task)

    def default_for(self, task: str) -> str:
        """The configured default, else the only AVAILABLE model of ``task``."""
        configured = self.defaults.get(task)
        if configured is not None:
            return configured
        candidates = self.names_for_task(task)
        if len(candidates) != 1:
            listed = ", ".join(candidates) or "none"
            raise ModelRequiredError(f"name the {task} model to use (loaded: {listed})")
        return candidates[0]

    def names_for_task(self, task: str) -> list[str]:
        found = {
            status.name
            for status in self.repository.statuses()
            if status.state == "AVAILABLE" and (status.card or {}).get("task") == task
        }
        return sorted(found)


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
