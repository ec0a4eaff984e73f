"""Classification: encoded images in, top-k labels out, for any model that binds as a classifier.

No HTTP here: the `/v1/classify` route, its lean ASGI twin and the protocol routes
(TF Serving `b64` instances, KServe BYTES inputs) all call these functions with a
model they already resolved. How a model is fed (image size, colour, resize policy,
scale, polarity) and read (probabilities, logits or one sigmoid unit) was settled
when the version loaded (`service.runtime.spec`); here it is only applied.

All images of one request go to the model as one batch, prepared together
(`service.tasks.image_batch`: inline when small, else in parallel on a few threads).
"""

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from service.card import ImageSpec, Polarity
from service.ports import Model
from service.preprocessing.batch import PreparedBatch, assemble, prepare_part
from service.preprocessing.images import PreparedImage
from service.runtime.encoded import Encoded, Inputs
from service.runtime.errors import InvalidInputError
from service.runtime.scores import to_probabilities
from service.runtime.spec import ClassifyBinding
from service.tasks.image_batch import prepare_batch
from service.tasks.png_encoding import png_bytes

# A lone upload up to this size is prepared with its batch, where the batch runs (a digit
# is ~0.4 kB, a small photo ~20 kB); a larger one goes to the image threads first.
PREPARED_IN_BATCH_BYTES = 64 * 1024


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


async def prepare_uploads(
    uploads: Sequence[Upload],
    binding: ClassifyBinding,
    polarity: Polarity | None = None,
    max_pixels: int = 40_000_000,
) -> PreparedBatch:
    """The uploads as the model's input batch, and each as `prepare_image` describes it."""
    datas = [item.data for item in uploads]
    return await prepare_batch(datas, binding.image, binding.dtype, polarity, max_pixels)


@dataclass(frozen=True, eq=False)
class ImageRows:
    """How one model version's images become its input rows (no polarity override):
    the same for all its requests, so their batch prepares them in one call."""

    image: ImageSpec
    dtype: str
    max_pixels: int

    def __call__(self, datas: Sequence[bytes]) -> NDArray[Any]:
        part = prepare_part(datas, self.image, None, self.max_pixels)
        return assemble([part], self.image, self.dtype).pixels

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ImageRows)
            and other.image is self.image
            and other.dtype == self.dtype
            and other.max_pixels == self.max_pixels
        )

    def __hash__(self) -> int:
        return hash((id(self.image), self.dtype, self.max_pixels))


async def image_inputs(model: Model, images: Sequence[bytes], max_pixels: int) -> Inputs:
    """Encoded images as the model's input batch, through its own preprocessing.

    One small image is prepared where its batch runs, together with the other requests'
    (`service.runtime.encoded`): one image a request is what many clients send at
    once. Several images are a batch already: prepared now, together, while the model
    runs the previous batch (on the image threads when large).
    """
    binding = binding_of(model)
    if len(images) == 1 and len(images[0]) <= PREPARED_IN_BATCH_BYTES:
        rows = ImageRows(binding.image, binding.dtype, max_pixels)
        return {binding.input: Encoded(images, rows)}
    batch = await prepare_batch(images, binding.image, binding.dtype, None, max_pixels)
    return {binding.input: batch.pixels}


async def class_probabilities(model: Model, batch: PreparedBatch) -> NDArray[Any]:
    """Class probabilities [N, C] for the prepared images, as one batch."""
    binding = binding_of(model)
    outputs = await model.infer({binding.input: batch.pixels}, trusted=True)
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


def top_k_rows(
    probabilities: NDArray[Any], labels: Sequence[str], k: int
) -> list[list[dict[str, Any]]]:
    """`top_k` of every row of [N, C] at once: one stable argsort of the negated matrix
    orders each row as `top_k` does (highest first, ties by index, NaN last)."""
    order: list[list[int]] = np.argsort(-probabilities, axis=1, kind="stable")[:, :k].tolist()
    scores: list[list[float]] = probabilities.tolist()
    named = len(labels)
    return [
        [{"label": labels[i] if i < named else str(i), "index": i, "score": row[i]} for i in best]
        for best, row in zip(order, scores, strict=True)
    ]


def input_png(image: PreparedImage) -> str:
    """What the model saw, at its own size and colour, as a base64 PNG."""
    return base64.b64encode(png_bytes(image.preview())).decode()


async def classify(
    model: Model, uploads: Sequence[Upload], params: ClassifyParams, *, top: int, max_pixels: int
) -> dict[str, Any]:
    """The classify answer as JSON-ready data (the `ClassifyResponse` shape, no nulls)."""
    binding = binding_of(model)
    batch = await prepare_uploads(uploads, binding, params.polarity, max_pixels)
    probabilities = await class_probabilities(model, batch)
    if len(uploads) == 1:  # one row: Python's sort beats NumPy's call overhead
        best = [top_k(probabilities[0], binding.labels, top)]
    else:
        best = top_k_rows(probabilities, binding.labels, top)
    results = []
    for index, (upload, labels) in enumerate(zip(uploads, best, strict=True)):
        result: dict[str, Any] = {"inverted": batch.inverted[index], "top_k": labels}
        if upload.filename is not None:
            result["filename"] = upload.filename
        if params.return_input:
            result["input_png_base64"] = input_png(batch.image(index))
        results.append(result)
    return {"model": model.name, "version": model.version, "results": results}
