"""`GET /v1/models`: every model version the service knows, with state, device and card,
and each versions.json's state; `GET /v1/models/{name}/shadow`: its shadow agreement."""

from typing import Annotated, Any

from fastapi import APIRouter, Path

from service.api.deps import RepositoryDep, ResolverDep
from service.api.responses import FastJSONResponse
from service.api.schemas import ModelEntry, ModelList
from service.config import TASKS
from service.errors import ModelRequiredError
from service.runtime.errors import ModelNotFoundError

router = APIRouter(tags=["models"])


@router.get("/v1/models", summary="List models")
async def list_models(repository: RepositoryDep, resolver: ResolverDep) -> ModelList:
    """All versions of all models, including failed ones, and each task's default."""
    defaults = {}
    for task in TASKS:
        try:
            defaults[task] = resolver.default_for(task)
        except ModelRequiredError:
            continue  # no model, or several and none configured
    return ModelList(
        defaults=defaults,
        rollouts={name: dict(state) for name, state in repository.rollouts().items()},
        models=[
            ModelEntry(
                name=status.name,
                version=status.version,
                state=status.state,
                device=status.device,
                runtime=status.runtime,
                runtime_note=status.runtime_note,
                error=status.error,
                load_seconds=status.load_seconds,
                card=status.card.to_json() if status.card is not None else None,
            )
            for status in sorted(repository.statuses(), key=lambda item: (item.name, item.version))
        ],
    )


@router.get("/v1/models/{name}/shadow", summary="Shadow traffic: agreement and disagreements")
async def shadow_report(
    name: Annotated[str, Path(description="Model name")], repository: RepositoryDep
) -> FastJSONResponse:
    """Rows compared per primary and shadow version (agree, disagree, error), the agreement
    rate, shadow calls shed, and the latest disagreeing rows: an input digest and both
    answers. Counted since the process started."""
    if name not in repository.names():
        raise ModelNotFoundError(name)
    rollout = repository.rollout(name)
    report: dict[str, Any] = {"model": name, "shadow": None}
    if rollout is None:
        report.update(agreement=None, shed=0, rows=[], disagreements=[])
    else:
        report["shadow"] = rollout.status()["shadow"]
        report.update(rollout.shadows.report())
    return FastJSONResponse(report)
