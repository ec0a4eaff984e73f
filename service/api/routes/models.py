"""`GET /v1/models`: every model version the service knows, with state, device and card."""

from fastapi import APIRouter

from service.api.deps import RepositoryDep, ResolverDep
from service.api.schemas import ModelEntry, ModelList
from service.config import TASKS
from service.errors import ModelRequiredError

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
