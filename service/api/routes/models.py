"""`GET /v1/models`: every model version the service knows, with state, device and card."""

from fastapi import APIRouter

from service.api.deps import RepositoryDep
from service.schemas import ModelEntry, ModelList

router = APIRouter(tags=["models"])


@router.get("/v1/models", summary="List models")
async def list_models(repository: RepositoryDep) -> ModelList:
    """All versions of all models, including loading and failed ones."""
    return ModelList(
        models=[
            ModelEntry(
                name=status.name,
                version=status.version,
                state=status.state,
                device=status.device,
                error=status.error,
                load_seconds=status.load_seconds,
                card=dict(status.card) if status.card is not None else None,
            )
            for status in sorted(repository.statuses(), key=lambda item: (item.name, item.version))
        ]
    )
