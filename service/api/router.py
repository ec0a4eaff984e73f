"""All routes in one router, each surface behind the guard it needs.

Inference and management routes require the API key when one is configured; health,
readiness, metrics and the V2 health routes only when `protect_health_and_metrics` is
set. The guard is a dependency, so it also shows up in the OpenAPI security scheme.
"""

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from service.api.deps import require_api_key, require_api_key_if_protected
from service.api.routes import (
    classify,
    files,
    generate,
    health,
    kserve_v2,
    models,
    playground,
    sequence,
    tfserving,
)

# Open unless `protect_health_and_metrics` is set: health, readiness, metrics, V2 health.
OPEN_SURFACES = (health.router, kserve_v2.health_router)


def open_paths() -> frozenset[str]:
    """The paths behind the health guard (the OpenAPI document marks them public)."""
    return frozenset(
        route.path
        for open_surface in OPEN_SURFACES
        for route in open_surface.routes
        if isinstance(route, APIRoute)
    )


def build_router() -> APIRouter:
    protected = APIRouter(dependencies=[Depends(require_api_key)])
    for surface in (classify, sequence, generate, models, files, tfserving, kserve_v2):
        protected.include_router(surface.router)
    open_routes = APIRouter(dependencies=[Depends(require_api_key_if_protected)])
    for open_surface in OPEN_SURFACES:
        open_routes.include_router(open_surface)
    root = APIRouter()
    root.include_router(open_routes)
    root.include_router(protected)
    return root


def install_routes(app: FastAPI, *, with_playground: bool) -> None:
    """Every route on ``app``; the browser playground (`GET /`) when asked for."""
    app.include_router(build_router())
    if with_playground:
        playground.install_playground(app)
