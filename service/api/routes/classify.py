"""`POST /v1/classify`: images in (raw body or multipart `file` parts), top-k labels out.

Small images are decoded on the event loop (a 28x28 PNG takes tens of microseconds, far
less than a thread hop); large uploads go to a worker thread so one big photo cannot
stall every other request. All images of one request go to the model as one batch.
"""

import asyncio
import base64
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from numpy.typing import NDArray
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.deps import ModelResolver, ResolverDep, SettingsDep
from service.config import Settings
from service.errors import InvalidRequestError, UnsupportedMediaTypeError
from service.imaging import png_bytes, to_uint8
from service.ports import Model
from service.preprocessing.images import SUPPORTED_MEDIA_TYPES, PreparedImage, prepare_image
from service.schemas import ClassifyResponse

router = APIRouter(tags=["inference"])

INLINE_DECODE_BYTES = 256 * 1024
Polarity = Literal["auto", "invert", "keep"]

_IMAGE_SCHEMA = {"type": "string", "format": "binary"}
_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One image as the raw body, or several as multipart `file` parts.",
        "content": {
            **{media: {"schema": _IMAGE_SCHEMA} for media in sorted(SUPPORTED_MEDIA_TYPES)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "array", "items": _IMAGE_SCHEMA}},
                    "required": ["file"],
                }
            },
        },
    }
}


@dataclass(frozen=True)
class Upload:
    filename: str | None
    data: bytes


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


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
    media_type = _media_type(request)
    if media_type in SUPPORTED_MEDIA_TYPES:
        return [Upload(None, await request.body())], True
    if media_type == "multipart/form-data":
        return await _multipart_uploads(request, settings.max_files_per_request), False
    accepted = ", ".join(sorted(SUPPORTED_MEDIA_TYPES))
    raise UnsupportedMediaTypeError(
        f"send an image ({accepted}) or multipart/form-data, not {media_type or 'no type'}"
    )


def _decode_all(uploads: list[Upload], polarity: Polarity, max_pixels: int) -> list[PreparedImage]:
    return [prepare_image(item.data, polarity=polarity, max_pixels=max_pixels) for item in uploads]


async def decode(uploads: list[Upload], polarity: Polarity, max_pixels: int) -> list[PreparedImage]:
    if sum(len(item.data) for item in uploads) <= INLINE_DECODE_BYTES:
        return _decode_all(uploads, polarity, max_pixels)
    return await asyncio.to_thread(_decode_all, uploads, polarity, max_pixels)


def top_k(probabilities: NDArray[Any], labels: list[str], k: int) -> list[dict[str, Any]]:
    """The k best `{label, index, score}`, plain dicts (the `LabelScore` shape)."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [
        {
            "label": labels[i] if i < len(labels) else str(i),
            "index": int(i),
            "score": float(probabilities[i]),
        }
        for i in order
    ]


async def classify_images(model: Model, images: list[PreparedImage]) -> NDArray[Any]:
    """Class probabilities [N, C] for the prepared images, as one batch."""
    input_name = next(iter(model.inputs))
    batch = np.stack([image.pixels for image in images]).astype(np.float32, copy=False)
    outputs = await model.infer({input_name: batch})
    return outputs["probabilities"] if "probabilities" in outputs else next(iter(outputs.values()))


def input_png(image: PreparedImage) -> str:
    """The model's input as a base64 PNG, so a client can see what was classified."""
    pixels = to_uint8(image.pixels.reshape(image.pixels.shape[:2]))
    return base64.b64encode(png_bytes(pixels)).decode()


@dataclass(frozen=True)
class ClassifyParams:
    """The query parameters of a classify call, validated."""

    model: str | None = None
    version: int | None = None
    top_k: int | None = None
    polarity: Polarity = "auto"
    return_input: bool = False


async def classify_uploads(
    resolver: ModelResolver,
    settings: Settings,
    uploads: list[Upload],
    raw: bool,
    params: ClassifyParams,
) -> dict[str, Any]:
    """The classify answer as JSON-ready data (the `ClassifyResponse` shape, no nulls).

    Shared by the FastAPI route and the lean path in `service.api.fast_classify`.
    """
    wanted = params.top_k or settings.default_top_k
    if wanted > settings.max_top_k:
        raise InvalidRequestError(f"top_k must be at most {settings.max_top_k}")
    handle = resolver.get_for_task(params.model, params.version, "classify")
    images = await decode(uploads, params.polarity, settings.max_image_pixels)
    probabilities = await classify_images(handle, images)
    labels = [str(label) for label in handle.card.get("labels", [])]
    results = []
    for upload, image, row in zip(uploads, images, probabilities, strict=True):
        result: dict[str, Any] = {"inverted": image.inverted, "top_k": top_k(row, labels, wanted)}
        if upload.filename is not None:
            result["filename"] = upload.filename
        if params.return_input:
            result["input_png_base64"] = input_png(image)
        results.append(result)
    answer: dict[str, Any] = {"model": handle.name, "version": handle.version, "results": results}
    if raw:
        answer["top_k"], answer["inverted"] = results[0]["top_k"], results[0]["inverted"]
    return answer


@router.post(
    "/v1/classify",
    response_model=ClassifyResponse,
    response_model_exclude_none=True,
    summary="Classify one or more images",
    openapi_extra=_OPENAPI_BODY,
)
async def classify(
    request: Request,
    resolver: ResolverDep,
    settings: SettingsDep,
    model: Annotated[str | None, Query(description="Required unless one classifier")] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    k: Annotated[int | None, Query(alias="top_k", ge=1)] = None,
    polarity: Annotated[Polarity, Query(description="auto inverts dark-on-light")] = "auto",
    return_input: Annotated[
        bool, Query(description="Add the 28x28 PNG the model saw to each result")
    ] = False,
) -> dict[str, Any]:
    """Top-k labels for each image; a raw body also gets `top_k`/`inverted` at the top."""
    # The media type is checked first: a wrong body is a 415 whatever the model.
    uploads, raw = await read_uploads(request, settings)
    params = ClassifyParams(model, version, k, polarity, return_input)
    return await classify_uploads(resolver, settings, uploads, raw, params)
