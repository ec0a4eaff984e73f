"""The KServe V2 / Open Inference Protocol REST routes (tested with `tritonclient.http`
and the KServe Python SDK).

Health routes follow the health guard (open unless configured); model and repository
routes need the API key when one is set. The body of `infer` is read raw because
Triton's binary tensor extension appends raw tensors after the JSON header. Besides
binary tensors, Triton's classification and model repository (index only) extensions
are served; image models also take encoded images as a BYTES input.
"""

from importlib import metadata as package_metadata
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from service.api.deps import LifecycleDep, RepositoryDep, ResolverDep, SettingsDep
from service.api.responses import FastJSONResponse
from service.api.v2_infer import infer_answer
from service.config import Settings
from service.errors import NotReadyError
from service.protocols import kserve_v2, v2_repository
from service.protocols.v2_messages import V2InferRequest

router = APIRouter(tags=["kserve-v2"])
health_router = APIRouter(tags=["kserve-v2"])

NamePath = Annotated[str, Path(description="Model name")]
VersionPath = Annotated[int, Path(ge=1, description="Model version")]

_INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": V2InferRequest.model_json_schema(),
                "example": {
                    "id": "42",
                    "inputs": [
                        {"name": "series", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}
                    ],
                    "outputs": [{"name": "forecast"}],
                },
            }
        },
    }
}


def _server_version() -> str:
    try:
        return package_metadata.version("kerasserve")
    except package_metadata.PackageNotFoundError:
        return "0.0.0"


@health_router.get("/v2", summary="Server metadata (V2)")
async def server_metadata() -> dict[str, Any]:
    return {
        "name": "kerasserve",
        "version": _server_version(),
        "extensions": ["binary_tensor_data", "classification", "model_repository"],
    }


@health_router.get("/v2/health/live", summary="Server live (V2)")
async def server_live(repository: RepositoryDep) -> dict[str, bool]:
    if not repository.live:
        raise NotReadyError("the model runtime is not running")
    return {"live": True}


@health_router.get("/v2/health/ready", summary="Server ready (V2)")
async def server_ready(repository: RepositoryDep, lifecycle: LifecycleDep) -> dict[str, bool]:
    if lifecycle.stopping or not repository.ready:
        raise NotReadyError("the service is not ready")
    return {"ready": True}


def _metadata(
    resolver: ResolverDep, repository: RepositoryDep, name: str, version: int | None
) -> FastJSONResponse:
    model = resolver.get(name, version)
    versions = sorted(
        status.version for status in repository.statuses(name) if status.state == "AVAILABLE"
    )
    return FastJSONResponse(kserve_v2.model_metadata(model, versions))


@router.get("/v2/models/{name}", summary="Model metadata (V2)")
async def model_metadata(
    name: NamePath, resolver: ResolverDep, repository: RepositoryDep
) -> FastJSONResponse:
    """The model's real tensors; 404 unknown, 503 with the reason when no version loaded."""
    return _metadata(resolver, repository, name, None)


@router.get("/v2/models/{name}/versions/{version}", summary="Model version metadata (V2)")
async def model_version_metadata(
    name: NamePath, version: VersionPath, resolver: ResolverDep, repository: RepositoryDep
) -> FastJSONResponse:
    return _metadata(resolver, repository, name, version)


@router.get("/v2/models/{name}/ready", summary="Model ready (V2)")
async def model_ready(name: NamePath, resolver: ResolverDep) -> dict[str, Any]:
    """200 when a version is available; 404 unknown, 503 loading or stopping."""
    return {"name": resolver.get(name).name, "ready": True}


@router.get("/v2/models/{name}/versions/{version}/ready", summary="Model version ready (V2)")
async def model_version_ready(
    name: NamePath, version: VersionPath, resolver: ResolverDep
) -> dict[str, Any]:
    return {"name": resolver.get(name, version).name, "ready": True}


async def _infer(
    request: Request, resolver: ResolverDep, settings: Settings, name: str, version: int | None
) -> Response:
    header_length = request.headers.get(kserve_v2.HEADER_LENGTH)
    body, media_type, json_length = await infer_answer(
        resolver, settings, name, version, await request.body(), header_length
    )
    if json_length is None:
        return Response(body, media_type=media_type)
    headers = {"Inference-Header-Content-Length": str(json_length)}
    return Response(body, media_type=media_type, headers=headers)


@router.post("/v2/models/{name}/infer", summary="Infer (V2)", openapi_extra=_INFER_BODY)
async def infer(
    name: NamePath, request: Request, resolver: ResolverDep, settings: SettingsDep
) -> Response:
    """JSON tensors in and out; Triton's binary tensors and classification are accepted."""
    return await _infer(request, resolver, settings, name, None)


@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    summary="Infer with one version (V2)",
    openapi_extra=_INFER_BODY,
)
async def infer_version(
    name: NamePath,
    version: VersionPath,
    request: Request,
    resolver: ResolverDep,
    settings: SettingsDep,
) -> Response:
    return await _infer(request, resolver, settings, name, version)


@router.post("/v2/repository/index", summary="Model repository index (V2, Triton)")
async def repository_index(request: Request, repository: RepositoryDep) -> FastJSONResponse:
    """Every version found, as Triton lists them: READY, LOADING or UNAVAILABLE with the
    reason. An optional `{"ready": true}` body keeps only the READY ones."""
    ready_only = v2_repository.parse_index_request(await request.body())
    return FastJSONResponse(v2_repository.repository_index(repository.statuses(), ready_only))
