"""The `/v1/classify` answer as both HTTP paths give it: the route and the lean path.

`service.api.routes.classify` (the FastAPI route, reference and OpenAPI description)
and `service.api.fast_classify` (the pure-ASGI twin for a raw image or JSON `b64`
images) read the request each their own way, then answer through `classify_uploads`.
"""

from typing import Any

import orjson

from service.config import Settings
from service.errors import InvalidRequestError
from service.tasks.classify import ClassifyParams, Upload, classify
from service.tasks.encoding import decode_b64
from service.tasks.resolver import ModelResolver

PATH, ALIAS = "/v1/classify", "/classify"
JSON_MEDIA_TYPE = "application/json"


def media_type_of(content_type: str | None) -> str:
    """`image/png; q=1` -> `image/png`; no header -> empty."""
    return (content_type or "").split(";")[0].strip().lower()


def b64_uploads(body: bytes, limit: int) -> list[Upload]:
    """`{"images": [{"b64": "..."}, ...]}` -> uploads (TF Serving's binary convention)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from exc
    images = document.get("images") if isinstance(document, dict) else None
    if not isinstance(images, list) or not images:
        raise InvalidRequestError('send {"images": [{"b64": "<base64 image>"}, ...]}')
    if len(images) > limit:
        raise InvalidRequestError(f"at most {limit} images per request, got {len(images)}")
    return [Upload(None, decode_b64(item, f"images[{i}]")) for i, item in enumerate(images)]


async def classify_uploads(
    resolver: ModelResolver,
    settings: Settings,
    uploads: list[Upload],
    raw: bool,
    params: ClassifyParams,
    route_key: str | None = None,
) -> dict[str, Any]:
    """The whole answer; a raw body (one image) also gets `top_k`/`inverted` at the top."""
    wanted = params.top_k or settings.default_top_k
    if wanted > settings.max_top_k:
        raise InvalidRequestError(f"top_k must be at most {settings.max_top_k}")
    model = resolver.get_for_task(
        params.model,
        params.version,
        "classify",
        label=params.version_label,
        route_key=route_key,
    )
    answer = await classify(
        model, uploads, params, top=wanted, max_pixels=settings.max_image_pixels
    )
    if raw:
        first = answer["results"][0]
        answer["top_k"], answer["inverted"] = first["top_k"], first["inverted"]
    return answer
