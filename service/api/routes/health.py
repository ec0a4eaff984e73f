"""Liveness, readiness and the Prometheus scrape endpoint.

Readiness is what load balancers act on: 503 until the models found at start have
settled (a damaged or foreign version fails and never holds readiness), at least one
is available and every `KERASSERVE_REQUIRED_MODELS` model is; 503 again from the
moment shutdown begins, so traffic drains away before the process stops. These
routes stay open unless configured otherwise.
"""

from fastapi import APIRouter
from fastapi.responses import Response

from service.api.deps import LifecycleDep, MetricsDep, RepositoryDep, SettingsDep
from service.api.schemas import HealthResponse, ReadinessResponse
from service.errors import NotReadyError, StoppingError
from service.metrics import EXPOSITION_CONTENT_TYPE
from service.ports import Repository

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz(repository: RepositoryDep) -> HealthResponse:
    """200 while the process and its runtime are alive."""
    if not repository.live:
        raise NotReadyError("the model runtime is not running")
    return HealthResponse(status="ok")


def not_ready_reason(repository: Repository, required: tuple[str, ...]) -> str:
    """Why the repository is not ready: nothing available, or a required model missing."""
    statuses = repository.statuses()
    available = {status.name for status in statuses if status.state == "AVAILABLE"}
    missing = [name for name in required if name not in available]
    if missing:
        why = {s.name: f"{s.state.lower()}: {s.error}" for s in statuses if s.error}
        listed = "; ".join(f"{name} ({why.get(name, 'not found')})" for name in missing)
        return f"required models are not available: {listed}"
    if not available:
        failed = [f"{s.name} v{s.version}: {s.error}" for s in statuses if s.state == "FAILED"]
        return "no model version is available" + (f" ({'; '.join(failed)})" if failed else "")
    return "models are still loading"


@router.get("/readyz", summary="Readiness")
async def readyz(
    repository: RepositoryDep, lifecycle: LifecycleDep, settings: SettingsDep
) -> ReadinessResponse:
    """200 once every version found at start has settled (available or failed), at least
    one is available and every required model is; 503 before that and when stopping."""
    if lifecycle.stopping:
        raise StoppingError("the service is shutting down")
    if not repository.ready:
        raise NotReadyError(not_ready_reason(repository, settings.required_models))
    models: dict[str, list[int]] = {}
    for status in repository.statuses():
        if status.state == "AVAILABLE":
            models.setdefault(status.name, []).append(status.version)
    return ReadinessResponse(status="ready", models={k: sorted(v) for k, v in models.items()})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(service_metrics: MetricsDep) -> Response:
    """Every metric in the Prometheus text exposition format."""
    return Response(service_metrics.exposition(), media_type=EXPOSITION_CONTENT_TYPE)
