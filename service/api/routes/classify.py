"""`POST /v1/classify` (alias `POST /classify`): images in, top-k labels out.

Images come as the raw body, as multipart `file` parts, or as JSON
`{"images": [{"b64": "..."}]}`. The work itself is `service.tasks.classify`, its
options are validated by `ClassifyParams`; this module reads the request.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.classify_answer import (
    ALIAS,
    JSON_MEDIA_TYPE,
    PATH,
    b64_uploads,
    classify_uploads,
    media_type_of,
)
from service.api.deps import ResolverDep, RouteKeyDep, SettingsDep
from service.api.schemas import ClassifyResponse
from service.config import Settings
from service.errors import InvalidRequestError, UnsupportedMediaTypeError
from service.preprocessing.images import SUPPORTED_MEDIA_TYPES
from service.tasks.classify import ClassifyParams, Upload

router = APIRouter(tags=["inference"])

_IMAGE_SCHEMA = {"type": "string", "format": "binary"}
_B64_SCHEMA = {
    "type": "object",
    "properties": {
        "images": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"b64": {"type": "string", "format": "byte"}},
                "required": ["b64"],
            },
        }
    },
    "required": ["images"],
}
_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One image as the raw body, several as multipart `file` parts, "
        'or JSON `{"images": [{"b64": "<base64 image>"}]}`.',
        "content": {
            **{media: {"schema": _IMAGE_SCHEMA} for media in sorted(SUPPORTED_MEDIA_TYPES)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "array", "items": _IMAGE_SCHEMA}},
                    "required": ["file"],
                }
            },
            JSON_MEDIA_TYPE: {"schema": _B64_SCHEMA},
        },
    }
}


async def _multipart_uploads(request: Request, limit: int) -> list[Upload]:
    try:
        form = await request.form(max_files=limit + 1, max_fields=limit + 16)
    except StarletteHTTPException as exc:
        if "Too many files" in str(exc.detail):
            raise InvalidRequestError(f"at most {limit} files per request") from exc
        raise
    try:
        files = [item for item in form.getlist("file") if isinstance(item, UploadFile)]
        if not files:
            raise InvalidRequestError("the multipart body needs at least one 'file' part")
        if len(files) > limit:
            raise InvalidRequestError(f"at most {limit} files per request, got {len(files)}")
        return [Upload(item.filename, await item.read()) for item in files]
    finally:
        await form.close()


async def read_uploads(request: Request, settings: Settings) -> tuple[list[Upload], bool]:
    """The uploaded images, and whether they came as one raw body."""
    media_type = media_type_of(request.headers.get("content-type"))
    limit = settings.max_files_per_request
    if media_type in SUPPORTED_MEDIA_TYPES:
        return [Upload(None, await request.body())], True
    if media_type == "multipart/form-data":
        return await _multipart_uploads(request, limit), False
    if media_type == JSON_MEDIA_TYPE:
        return b64_uploads(await request.body(), limit), False
    accepted = ", ".join([*sorted(SUPPORTED_MEDIA_TYPES), JSON_MEDIA_TYPE])
    raise UnsupportedMediaTypeError(
        f"send an image ({accepted}) or multipart/form-data, not {media_type or 'no type'}"
    )


async def classify_route(
    request: Request,
    resolver: ResolverDep,
    settings: SettingsDep,
    params: Annotated[ClassifyParams, Query()],
    route_key: RouteKeyDep = None,
) -> dict[str, Any]:
    """Top-k labels for each image; a raw body also gets `top_k`/`inverted` at the top."""
    # The media type is checked first: a wrong body is a 415 whatever the model.
    uploads, raw = await read_uploads(request, settings)
    return await classify_uploads(resolver, settings, uploads, raw, params, route_key)


_ROUTE_OPTIONS: dict[str, Any] = {
    "response_model": ClassifyResponse,
    "response_model_exclude_none": True,
    "openapi_extra": _OPENAPI_BODY,
}
router.add_api_route(
    PATH,
    classify_route,
    methods=["POST"],
    summary="Classify one or more images",
    operation_id="classify",
    **_ROUTE_OPTIONS,
)
router.add_api_route(
    ALIAS,
    classify_route,
    methods=["POST"],
    summary=f"Classify images (alias of POST {PATH})",
    description=f"Exactly `POST {PATH}`, under the name the README uses.",
    operation_id="classify_alias",
    **_ROUTE_OPTIONS,
)
