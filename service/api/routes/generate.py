"""`GET /v1/generate` (alias `GET /generate`): a conditional generator's images, PNG or JSON.

The same `seed` and model version always give the same images; without a seed one is
drawn and returned (`X-Seed` header, `seed` field) for replay (`service.tasks.generate`).
"""

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.api.deps import MetricsDep, ResolverDep, RouteKeyDep, SettingsDep, VersionLabel
from service.api.disconnect import unless_client_leaves
from service.api.schemas import GeneratedImage, GenerateResponse
from service.ports import Model
from service.tasks.generate import MAX_SEED, Generation
from service.tasks.generate import generate as generate_images
from service.tasks.png_encoding import grid, png_bytes

router = APIRouter(tags=["inference"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A PNG grid (format=png) or base64 PNGs (format=json).",
        "content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": GenerateResponse.model_json_schema()},
        },
    }
}


def _as_json(model: Model, generation: Generation) -> GenerateResponse:
    return GenerateResponse(
        model=model.name,
        version=model.version,
        seed=generation.seed,
        images=[
            GeneratedImage(label=int(lab), png_base64=base64.b64encode(png_bytes(img)).decode())
            for img, lab in zip(generation.pixels, generation.labels, strict=True)
        ],
    )


@router.get(
    "/generate",
    summary="Generate images (alias of GET /v1/generate)",
    description="Exactly `GET /v1/generate`, under the name the README uses.",
    responses=_RESPONSES,
    operation_id="generate_alias",
)
@router.get(
    "/v1/generate", summary="Generate images", responses=_RESPONSES, operation_id="generate"
)
async def generate(
    request: Request,
    resolver: ResolverDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    model: Annotated[str | None, Query(description="Required unless one generator")] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    n: Annotated[int, Query(ge=1, description="How many images")] = 16,
    label: Annotated[
        int | None, Query(ge=0, description="Class to draw; random if omitted")
    ] = None,
    seed: Annotated[int | None, Query(ge=0, le=MAX_SEED)] = None,
    response_format: Annotated[Literal["png", "json"], Query(alias="format")] = "png",
    version_label: VersionLabel = None,
    route_key: RouteKeyDep = None,
) -> Response:
    """`n` images; the same `seed` gives the same images. A client that leaves before
    they are ready cancels the work (see `service.api.disconnect`)."""
    handle = resolver.get_for_task(
        model, version, "generate", label=version_label, route_key=route_key
    )
    work = generate_images(
        handle, n, label=label, seed=seed, max_count=settings.max_generate_samples
    )
    generation = await unless_client_leaves(request.receive, work)
    metrics.observe_generated(handle.name, n)
    headers = {"X-Seed": str(generation.seed), "X-Model-Version": str(handle.version)}
    if response_format == "png":
        return Response(png_bytes(grid(generation.pixels)), media_type="image/png", headers=headers)
    answer = _as_json(handle, generation)
    return Response(answer.model_dump_json(), media_type="application/json", headers=headers)
