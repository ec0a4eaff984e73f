"""The model card: the typed contract between training (which writes it) and serving.

`model_card.json` sits beside `saved_model.pb`. It is optional: whatever it leaves
out is inferred from the SavedModel's signature when the version loads (see
`service.runtime.spec`). Whatever it says is checked here once, at load time, so a
misspelt key or a wrong value refuses that version with a readable reason instead
of failing every request. This module imports neither TensorFlow nor FastAPI, so
training, the loader, the CLI and tests all share it.

The `image` block says how an uploaded picture becomes the model's input tensor:

| field | values | default |
|---|---|---|
| size | [height, width] | the signature's spatial size |
| color | gray, rgb, rgba | from the channel count (1, 3, 4) |
| resize | stretch, crop, pad, mnist | stretch |
| interpolation | bilinear, nearest, bicubic, area, lanczos | bilinear (lanczos for mnist) |
| antialias | true (PIL, as `keras.utils.load_img`), false (as `tf.image.resize`) | true |
| scale | raw, unit, tf, torch, caffe, or {factor, offset, mean, std} | raw (float inputs) |
| polarity | auto, invert, keep | keep |
"""

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CARD_FILE = "model_card.json"
LABELS_FILE = "labels.txt"

Task = Literal["classify", "predict", "forecast", "generate"]
OutputKind = Literal["probabilities", "logits", "sigmoid"]
Color = Literal["gray", "rgb", "rgba"]
Resize = Literal["stretch", "crop", "pad", "mnist"]
Interpolation = Literal["bilinear", "nearest", "bicubic", "area", "lanczos"]
ScalePreset = Literal["raw", "unit", "tf", "torch", "caffe"]
Polarity = Literal["auto", "invert", "keep"]
Runtime = Literal["tensorflow", "litert", "xla"]

CHANNELS: dict[Color, int] = {"gray": 1, "rgb": 3, "rgba": 4}
PositiveInt = Annotated[int, Field(ge=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomScale(_Strict):
    """`pixels * factor + offset`, then `(x - mean) / std` per channel (0..255 pixels in)."""

    factor: float = 1.0
    offset: float = 0.0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @field_validator("std")
    @classmethod
    def _positive_std(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(item <= 0 for item in value):
            raise ValueError("std values must be positive")
        return value


class ImageSpec(_Strict):
    """How an encoded image becomes the model's input; None means "infer it"."""

    size: tuple[PositiveInt, PositiveInt] | None = None
    color: Color | None = None
    resize: Resize = "stretch"
    interpolation: Interpolation | None = None
    antialias: bool = True
    scale: ScalePreset | CustomScale | None = None
    polarity: Polarity = "keep"

    @property
    def channels(self) -> int | None:
        return None if self.color is None else CHANNELS[self.color]

    @property
    def resampling(self) -> Interpolation:
        """The interpolation in effect: the zoo's fit-and-centre was always Lanczos."""
        if self.interpolation is not None:
            return self.interpolation
        return "lanczos" if self.resize == "mnist" else "bilinear"


# The zoo's 28x28 classifiers: fit and centre like MNIST, pixels in [0, 1], light on dark.
# Also what a classify call without a spec of its own gets.
MNIST_IMAGE = ImageSpec(
    size=(28, 28),
    color="gray",
    resize="mnist",
    interpolation="lanczos",
    scale="unit",
    polarity="auto",
)


class TensorDescription(_Strict):
    """Dtype (numpy spelling) and shape with `null` for the batch and open dimensions."""

    dtype: str
    shape: tuple[int | None, ...]


class TaskParams(BaseModel):
    """What a task needs beyond the signature; each task reads its own fields.

    forecast: `window` values in, `horizon` values out (`unit`, `frequency` describe
    them); generate: `latent_dim` noise values and `num_classes` labels in; classify:
    `image_shape` and `num_classes`, for people. Other keys are kept as written.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    window: PositiveInt | None = None
    horizon: PositiveInt | None = None
    unit: str | None = None
    frequency: str | None = None
    latent_dim: PositiveInt | None = None
    num_classes: PositiveInt | None = None
    image_shape: tuple[PositiveInt, ...] | None = None


class ModelCard(BaseModel):
    """Every key a card may hold; an unknown key refuses the version."""

    model_config = ConfigDict(extra="forbid")

    # What serving reads.
    task: Task | None = None
    signature_name: str | None = None
    inputs: dict[str, TensorDescription] | None = None
    outputs: dict[str, TensorDescription] | None = None
    labels: list[str] | None = None
    output: OutputKind | None = None
    image: ImageSpec | None = None
    task_params: TaskParams | None = None
    runtime: Runtime | None = None  # None: tensorflow
    # What people read: provenance written by training.
    name: str | None = None
    version: int | None = None
    preprocessing: str | None = None
    parameters: int | None = None
    architecture: str | None = None
    layers: list[dict[str, Any]] | None = None
    metrics: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    plots: list[str] | None = None
    tensorflow_version: str | None = None
    keras_version: str | None = None
    python_version: str | None = None
    created_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The card as written to disk: only the keys that are set."""
        return self.model_dump(mode="json", exclude_none=True)


class CardError(ValueError):
    """A card or labels file that cannot be used; the message names what is wrong."""


def describe_validation_error(exc: ValidationError) -> str:
    """`image.scale: Input should be ...; foo: Extra inputs are not permitted`."""
    parts = []
    for error in exc.errors()[:5]:
        # Union members show up in the location ("literal[...]", "CustomScale"): not keys.
        keys = [str(p) for p in error["loc"] if not _is_union_tag(str(p))]
        where = ".".join(keys) or "card"
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _is_union_tag(part: str) -> bool:
    return "[" in part or part in {"CustomScale", "str", "int"}


def parse_card(data: object) -> ModelCard:
    """Validate a decoded card; raise `CardError` with every problem found."""
    if not isinstance(data, dict):
        raise CardError(f"{CARD_FILE} must hold a JSON object, not {type(data).__name__}")
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        raise CardError(f"invalid {CARD_FILE}: {describe_validation_error(exc)}") from exc


def read_card(version_dir: Path) -> ModelCard | None:
    """The version's card, or None when it has none."""
    path = version_dir / CARD_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CardError(f"unreadable {CARD_FILE}: {exc}") from exc
    return parse_card(data)


def read_labels_file(version_dir: Path) -> list[str] | None:
    """`labels.txt`: line i names class i (Triton's `label_filename`); None when absent."""
    path = version_dir / LABELS_FILE
    if not path.exists():
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CardError(f"unreadable {LABELS_FILE}: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.strip() for line in lines]


def write_card(version_dir: Path, card: ModelCard) -> Path:
    path = version_dir / CARD_FILE
    path.write_text(json.dumps(card.to_json(), indent=2) + "\n", encoding="utf-8")
    return path
