"""Model management and prediction in TensorFlow Serving's REST shape.

`GET /v1/models/{name}[/versions/{v} | /labels/{label}]`, `.../metadata` and
`POST /v1/models/{name}[/versions/{v} | /labels/{label}]:predict`; labels are the
model's versions.json `version_labels`, and a predict naming neither a version nor a
label follows its traffic split (sticky with `X-Kerasserve-Route-Key`). Starlette
matches the literal `:predict` suffix after a path parameter, so the colon paths are
routed directly.
Image models also take encoded images in TF Serving's `{"b64": ...}` form (see
`service.protocols.tfserving`), prepared as the model's card or signature says.
"""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request

from service.api.deps import ContextDep, RepositoryDep, ResolverDep, RouteKeyDep, SettingsDep
from service.api.responses import FastJSONResponse
from service.config import Settings
from service.errors import InvalidRequestError
from service.ports import Repository, Status
from service.protocols import tfserving
from service.runtime.errors import ModelNotFoundError, VersionNotFoundError
from service.tasks import predict as predict_task

router = APIRouter(tags=["tensorflow-serving"])

NamePath = Annotated[str, Path(description="Model name")]
VersionPath = Annotated[int, Path(ge=1, description="Model version")]
LabelPath = Annotated[str, Path(description="Version label (the model's versions.json)")]

_PREDICT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object"},
                "examples": {
                    "rows": {"value": {"instances": [[0.1, 0.2, 0.3]]}},
                    "columns": {"value": {"inputs": {"series": [[0.1, 0.2, 0.3]]}}},
                    "images": {"value": {"instances": [{"b64": "<base64 PNG or JPEG>"}]}},
                },
            }
        },
    }
}


def _statuses(
    repository: Repository, name: str, version: int | None, context: ContextDep
) -> list[Status]:
    context.record_unknown_model()
    found = list(repository.statuses(name))
    if not found:
        raise ModelNotFoundError(name)
    context.record_model(name, None)
    if version is not None:
        found = [status for status in found if status.version == version]
        if not found:
            raise VersionNotFoundError(name, version)
        context.record_model(name, version)
    return found


@router.get("/v1/models/{name}", summary="Model status (TF Serving)")
async def model_status(
    name: NamePath, repository: RepositoryDep, context: ContextDep
) -> FastJSONResponse:
    return FastJSONResponse(tfserving.version_status(_statuses(repository, name, None, context)))


@router.get("/v1/models/{name}/versions/{version}", summary="Model version status (TF Serving)")
async def model_version_status(
    name: NamePath, version: VersionPath, repository: RepositoryDep, context: ContextDep
) -> FastJSONResponse:
    return FastJSONResponse(tfserving.version_status(_statuses(repository, name, version, context)))


@router.get("/v1/models/{name}/metadata", summary="Model metadata (TF Serving)")
async def model_metadata(name: NamePath, resolver: ResolverDep) -> FastJSONResponse:
    return FastJSONResponse(tfserving.metadata(resolver.get(name)))


@router.get("/v1/models/{name}/versions/{version}/metadata", summary="Version metadata")
async def model_version_metadata(
    name: NamePath, version: VersionPath, resolver: ResolverDep
) -> FastJSONResponse:
    return FastJSONResponse(tfserving.metadata(resolver.get(name, version)))


@router.get("/v1/models/{name}/labels/{label}", summary="Labelled version status (TF Serving)")
async def model_label_status(
    name: NamePath,
    label: LabelPath,
    resolver: ResolverDep,
    repository: RepositoryDep,
    context: ContextDep,
) -> FastJSONResponse:
    version = resolver.get(name, label=label).version
    return FastJSONResponse(tfserving.version_status(_statuses(repository, name, version, context)))


@router.get("/v1/models/{name}/labels/{label}/metadata", summary="Labelled version metadata")
async def model_label_metadata(
    name: NamePath, label: LabelPath, resolver: ResolverDep
) -> FastJSONResponse:
    return FastJSONResponse(tfserving.metadata(resolver.get(name, label=label)))


async def _predict(
    request: Request,
    resolver: ResolverDep,
    settings: Settings,
    name: str,
    version: int | None,
    *,
    label: str | None = None,
    route_key: str | None = None,
) -> FastJSONResponse:
    model = resolver.get(name, version, label=label, route_key=route_key)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from exc
    parsed = tfserving.parse_predict(body, model, max_images=settings.max_files_per_request)
    images = parsed.images or None
    outputs = await predict_task.predict(
        model, parsed.tensors, images, max_pixels=settings.max_image_pixels
    )
    return FastJSONResponse(tfserving.encode_predict(outputs, parsed.columnar))


@router.post(
    "/v1/models/{name}:predict", summary="Predict (TF Serving)", openapi_extra=_PREDICT_BODY
)
async def predict(
    name: NamePath,
    request: Request,
    resolver: ResolverDep,
    settings: SettingsDep,
    route_key: RouteKeyDep = None,
) -> FastJSONResponse:
    """Row (`instances`) or columnar (`inputs`) request, like TF Serving; `{"b64": ...}`
    images for image models."""
    return await _predict(request, resolver, settings, name, None, route_key=route_key)


@router.post(
    "/v1/models/{name}/labels/{label}:predict",
    summary="Predict with a labelled version (TF Serving)",
    openapi_extra=_PREDICT_BODY,
)
async def predict_label(
    name: NamePath,
    label: LabelPath,
    request: Request,
    resolver: ResolverDep,
    settings: SettingsDep,
) -> FastJSONResponse:
    return await _predict(request, resolver, settings, name, None, label=label)


@router.post(
    "/v1/models/{name}/versions/{version}:predict",
    summary="Predict with one version (TF Serving)",
    openapi_extra=_PREDICT_BODY,
)
async def predict_version(
    name: NamePath,
    version: VersionPath,
    request: Request,
    resolver: ResolverDep,
    settings: SettingsDep,
) -> FastJSONResponse:
    return await _predict(request, resolver, settings, name, version)
