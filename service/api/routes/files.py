"""`GET /v1/models/{name}/versions/{version}/files/{filename}`: a model version's plots.

Only files the version's card lists under `plots` are served, so the route cannot be
used to read the SavedModel, its variables or anything outside the version directory.
"""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from service.api.deps import RepositoryDep, SettingsDep
from service.errors import ModelFileNotFoundError
from service.ports import Repository
from service.runtime.errors import ModelNotFoundError, VersionNotFoundError

router = APIRouter(tags=["models"])

_MEDIA_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".json": "application/json"}


def listed_files(repository: Repository, name: str, version: int) -> list[str]:
    """The plot file names in the card of `name` version `version` (404 if unknown)."""
    statuses = repository.statuses(name)
    if not statuses:
        raise ModelNotFoundError(name)
    for status in statuses:
        if status.version == version:
            return list(status.card.plots or []) if status.card is not None else []
    raise VersionNotFoundError(name, version)


def resolve_file(models_dir: Path, name: str, version: int, filename: str) -> Path:
    """The file's path, refusing anything that would leave the version directory."""
    version_dir = (models_dir / name / str(version)).resolve()
    path = (version_dir / filename).resolve()
    if Path(filename).name != filename or not path.is_relative_to(version_dir):
        raise ModelFileNotFoundError(f"{filename!r} is not a file of {name!r} version {version}")
    if not path.is_file():
        raise ModelFileNotFoundError(f"{filename!r} of {name!r} version {version} is missing")
    return path


@router.get(
    "/v1/models/{name}/versions/{version}/files/{filename}",
    summary="Download a file listed in a model card (its plots)",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}},
)
async def model_file(
    repository: RepositoryDep,
    settings: SettingsDep,
    name: str,
    version: Annotated[int, PathParam(ge=1)],
    filename: str,
) -> FileResponse:
    """One of the files named in the card's `plots` (learning curves, confusion matrix...)."""
    if filename not in listed_files(repository, name, version):
        raise ModelFileNotFoundError(
            f"{filename!r} is not listed in the card of {name!r} v{version}"
        )
    path = resolve_file(settings.models_dir, name, version, filename)
    media_type = _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})
