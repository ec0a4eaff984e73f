"""Liveness, readiness and the Prometheus scrape endpoint.

Readiness is what load balancers act on: 503 until every configured model is loaded
and warm, and 503 again from the moment shutdown begins, so traffic drains away
before the process stops. These routes stay open unless configured otherwise.
"""

from fastapi import APIRouter
from fastapi.responses import Response

from service.api.deps import LifecycleDep, MetricsDep, RepositoryDep
from service.errors import NotReadyError, StoppingError
from service.metrics import EXPOSITION_CONTENT_TYPE
from service.schemas import HealthResponse, ReadinessResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz(repository: RepositoryDep) -> HealthResponse:
    """200 while the process and its runtime are alive."""
    if not repository.live:
        raise NotReadyError("the model runtime is not running")
    return HealthResponse(status="ok")


@router.get("/readyz", summary="Readiness")
async def readyz(repository: RepositoryDep, lifecycle: LifecycleDep) -> ReadinessResponse:
    """200 once every configured model is loaded and warm; 503 before and when stopping."""
    if lifecycle.stopping:
        raise StoppingError("the service is shutting down")
    if not repository.ready:
        raise NotReadyError("models are still loading")
    models: dict[str, list[int]] = {}
    for status in repository.statuses():
        if status.state == "AVAILABLE":
            models.setdefault(status.name, []).append(status.version)
    return ReadinessResponse(status="ready", models={k: sorted(v) for k, v in models.items()})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(service_metrics: MetricsDep) -> Response:
    """Every metric in the Prometheus text exposition format."""
    return Response(service_metrics.exposition(), media_type=EXPOSITION_CONTENT_TYPE)
