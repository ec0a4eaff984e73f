"""Classification: encoded images in, top-k labels out, for any model that binds as a classifier.

No HTTP here: the `/v1/classify` route, its lean ASGI twin and the protocol routes
(TF Serving `b64` instances, KServe BYTES inputs) all call these functions with a
model they already resolved. How a model is fed (image size, colour, resize policy,
scale, polarity) and read (probabilities, logits or one sigmoid unit) was settled
when the version loaded (`service.runtime.spec`); here it is only applied.

Small uploads are decoded on the event loop (a 28x28 PNG takes tens of microseconds,
far less than a thread hop); large ones go to a worker thread so one big photo cannot
stall every other request. All images of one request go to the model as one batch.
"""

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from service.card import Polarity
from service.ports import Model
from service.preprocessing.images import PreparedImage, prepare_image
from service.runtime.errors import InvalidInputError
from service.runtime.scores import to_probabilities
from service.runtime.spec import ClassifyBinding
from service.tasks.png_encoding import png_bytes

INLINE_DECODE_BYTES = 256 * 1024


class NotAClassifierError(InvalidInputError):
    """The model does not take images; raised before any bytes are decoded."""


@dataclass(frozen=True)
class Upload:
    filename: str | None
    data: bytes


class ClassifyParams(BaseModel):
    """The options of a classify call, validated here once for every path that takes them.

    The `/v1/classify` route reads them from the query through this model (FastAPI
    answers a bad value 422 `validation_error`); the lean path validates the same query
    with it. `polarity` None means the model's own setting; other query parameters
    are ignored.
    """

    model_config = ConfigDict(frozen=True)

    model: str | None = Field(default=None, description="Default: the classify default")
    version: int | None = Field(default=None, ge=1)
    version_label: str | None = Field(
        default=None, min_length=1, description="A label from versions.json (not with version)"
    )
    top_k: int | None = Field(default=None, ge=1)
    polarity: Polarity | None = Field(
        default=None, description="Default: the model's; auto inverts dark-on-light"
    )
    return_input: bool = Field(
        default=False, description="Add the image the model saw (its size and colour) as a PNG"
    )


def binding_of(model: Model) -> ClassifyBinding:
    binding = model.spec.classify
    if binding is None:
        raise NotAClassifierError(
            f"model {model.name!r} is a {model.task} model and takes no encoded images"
        )
    return binding


def _prepare_all(
    uploads: Sequence[Upload], binding: ClassifyBinding, polarity: Polarity | None, limit: int
) -> list[PreparedImage]:
    return [
        prepare_image(
            item.data, binding.image, dtype=binding.dtype, max_pixels=limit, polarity=polarity
        )
        for item in uploads
    ]


async def prepare_uploads(
    uploads: Sequence[Upload],
    binding: ClassifyBinding,
    polarity: Polarity | None = None,
    max_pixels: int = 40_000_000,
) -> list[PreparedImage]:
    """Each upload as the model's input, decoded inline when small, else in a thread."""
    if sum(len(item.data) for item in uploads) <= INLINE_DECODE_BYTES:
        return _prepare_all(uploads, binding, polarity, max_pixels)
    return await asyncio.to_thread(_prepare_all, uploads, binding, polarity, max_pixels)


def image_batch(binding: ClassifyBinding, images: Sequence[PreparedImage]) -> NDArray[Any]:
    """The prepared images stacked as one input batch of the model's dtype."""
    if len(images) == 1:  # the usual request: a view, not a copy (np.stack costs ~5 us)
        return images[0].pixels[np.newaxis].astype(binding.dtype, copy=False)
    return np.stack([image.pixels for image in images]).astype(binding.dtype, copy=False)


async def image_inputs(
    model: Model, images: Sequence[bytes], max_pixels: int
) -> dict[str, NDArray[Any]]:
    """Encoded images as the model's input batch, through its own preprocessing."""
    binding = binding_of(model)
    uploads = [Upload(None, data) for data in images]
    prepared = await prepare_uploads(uploads, binding, max_pixels=max_pixels)
    return {binding.input: image_batch(binding, prepared)}


async def class_probabilities(model: Model, images: Sequence[PreparedImage]) -> NDArray[Any]:
    """Class probabilities [N, C] for the prepared images, as one batch."""
    binding = binding_of(model)
    outputs = await model.infer({binding.input: image_batch(binding, images)}, trusted=True)
    return to_probabilities(outputs[binding.output], binding.scores or "probabilities")


def top_k(probabilities: NDArray[Any], labels: Sequence[str], k: int) -> list[dict[str, Any]]:
    """The k best `{label, index, score}`, plain dicts (the `LabelScore` shape).

    Highest first, ties by index. For a row of ten, Python's sort of the floats takes
    about a quarter of the time of NumPy's argsort with its negated copy; a NaN, which
    Python cannot order, takes NumPy's order (NaN last); so does a row whose sum is NaN
    for want of one (inf and -inf), which changes nothing but the time.
    """
    scores: list[float] = probabilities.tolist()  # the same values as Python floats, at once
    total = sum(scores)
    if total != total:
        order: list[int] = np.argsort(-probabilities, kind="stable")[:k].tolist()
    else:  # a stable sort, reversed, keeps equal scores in index order
        order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:k]
    named = len(labels)
    return [
        {"label": labels[i] if i < named else str(i), "index": i, "score": scores[i]} for i in order
    ]


def input_png(image: PreparedImage) -> str:
    """What the model saw, at its own size and colour, as a base64 PNG."""
    return base64.b64encode(png_bytes(image.preview())).decode()


async def classify(
    model: Model, uploads: Sequence[Upload], params: ClassifyParams, *, top: int, max_pixels: int
) -> dict[str, Any]:
    """The classify answer as JSON-ready data (the `ClassifyResponse` shape, no nulls)."""
    binding = binding_of(model)
    images = await prepare_uploads(uploads, binding, params.polarity, max_pixels)
    probabilities = await class_probabilities(model, images)
    results = []
    for upload, image, row in zip(uploads, images, probabilities, strict=True):
        result: dict[str, Any] = {
            "inverted": image.inverted,
            "top_k": top_k(row, binding.labels, top),
        }
        if upload.filename is not None:
            result["filename"] = upload.filename
        if params.return_input:
            result["input_png_base64"] = input_png(image)
        results.append(result)
    return {"model": model.name, "version": model.version, "results": results}
