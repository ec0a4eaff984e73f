"""`GET /v1/generate` (alias `GET /generate`): a conditional generator's images, PNG or JSON.

The noise (and, when no label is given, the labels) come from `numpy.random` seeded
with `seed`, so the same seed and model version always give the same images; without
a seed one is drawn and returned (`X-Seed` header, `seed` field) for replay.
"""

import base64
import secrets
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from numpy.typing import NDArray

from service.api.deps import MetricsDep, ResolverDep, SettingsDep
from service.api.disconnect import unless_client_leaves
from service.errors import InvalidRequestError
from service.imaging import grid, png_bytes, to_uint8
from service.ports import Model
from service.schemas import GeneratedImage, GenerateResponse

router = APIRouter(tags=["inference"])

MAX_SEED = 2**63 - 1
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A PNG grid (format=png) or base64 PNGs (format=json).",
        "content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": GenerateResponse.model_json_schema()},
        },
    }
}


def _generator_params(model: Model) -> tuple[int, int]:
    """(latent_dim, num_classes) from the card, falling back to the signature."""
    params = model.card.get("task_params", {})
    params = params if isinstance(params, dict) else {}
    noise = model.inputs.get("noise")
    latent = params.get("latent_dim") or (noise.shape[-1] if noise is not None else None)
    classes = params.get("num_classes") or len(model.card.get("labels", []))
    if not latent or not classes:
        raise InvalidRequestError(f"model {model.name!r} lacks latent_dim or num_classes")
    return int(latent), int(classes)


def draw_inputs(
    seed: int, count: int, latent_dim: int, num_classes: int, label: int | None
) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
    """Seeded standard-normal noise and labels (all `label`, or random from the seed)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, latent_dim), dtype=np.float32)
    if label is None:
        labels = rng.integers(0, num_classes, size=count).astype(np.int32)
    else:
        labels = np.full(count, label, dtype=np.int32)
    return noise, labels


async def _generate(
    model: Model, seed: int, count: int, label: int | None
) -> tuple[NDArray[np.uint8], NDArray[np.int32]]:
    latent_dim, num_classes = _generator_params(model)
    if label is not None and not 0 <= label < num_classes:
        raise InvalidRequestError(f"label must be in [0, {num_classes - 1}] for {model.name!r}")
    noise, labels = draw_inputs(seed, count, latent_dim, num_classes, label)
    outputs = await model.infer({"noise": noise, "labels": labels})
    images = outputs["images"] if "images" in outputs else next(iter(outputs.values()))
    return to_uint8(np.asarray(images)), labels


def _as_json(
    model: Model, seed: int, pixels: NDArray[np.uint8], labels: NDArray[np.int32]
) -> GenerateResponse:
    return GenerateResponse(
        model=model.name,
        version=model.version,
        seed=seed,
        images=[
            GeneratedImage(label=int(lab), png_base64=base64.b64encode(png_bytes(img)).decode())
            for img, lab in zip(pixels, labels, strict=True)
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
) -> Response:
    """`n` images; the same `seed` gives the same images. A client that leaves before
    they are ready cancels the work (see `service.api.disconnect`)."""
    if n > settings.max_generate_samples:
        raise InvalidRequestError(f"n must be at most {settings.max_generate_samples}")
    handle = resolver.get_for_task(model, version, "generate")
    seed = secrets.randbits(32) if seed is None else seed
    pixels, labels = await unless_client_leaves(request.receive, _generate(handle, seed, n, label))
    metrics.observe_generated(handle.name, n)
    headers = {"X-Seed": str(seed), "X-Model-Version": str(handle.version)}
    if response_format == "png":
        return Response(png_bytes(grid(pixels)), media_type="image/png", headers=headers)
    answer = _as_json(handle, seed, pixels, labels)
    return Response(answer.model_dump_json(), media_type="application/json", headers=headers)
