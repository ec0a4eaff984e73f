"""The resolved spec of a version: the card's word first, then what the signature says.

Everything a route needs to feed a model (which task it does, which input takes
the image and how to prepare it, which output holds the scores and whether they
still need a softmax, the class labels) is decided here once, when the version
loads. A card may be absent or partial; anything it leaves out is inferred:

- task: `classify` for one NHWC image input (1, 3 or 4 channels, float or uint8)
  and one rank-2 score output (or outputs named `probabilities` / `logits`);
  `predict` (tensors in, tensors out) otherwise. `forecast` and `generate` come
  only from a card; their tensors are bound by `service.runtime.bindings`.
- scores: `probabilities` when the warm-up rows already are (see
  `service.runtime.scores`), else `logits`; one column is a binary classifier.
- labels: the card's, else `labels.txt`, else "0".."C-1".

This module imports no TensorFlow, so it is tested with plain tensor descriptions.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace

from service.card import (
    CHANNELS,
    Color,
    CustomScale,
    ImageSpec,
    ModelCard,
    OutputKind,
    TensorDescription,
)
from service.runtime.bindings import (
    BindingError,
    ForecastBinding,
    GenerateBinding,
    bind_forecaster,
    bind_generator,
)
from service.runtime.tensors import TensorInfo

IMAGE_DTYPES = frozenset({"float16", "float32", "float64", "uint8"})
SCORE_NAMES = ("probabilities", "logits")
_COLORS: dict[int, Color] = {channels: color for color, channels in CHANNELS.items()}


class SpecError(ValueError):
    """The card and the signature cannot be reconciled; the message says why."""


@dataclass(frozen=True)
class ClassifyBinding:
    """How a classifier is fed and read: set at load, only read on the hot path."""

    input: str
    output: str
    dtype: str
    image: ImageSpec  # resolved: size, color and scale are set
    labels: tuple[str, ...]
    columns: int
    scores: OutputKind | None  # None until the warm-up batch has been seen


@dataclass(frozen=True)
class ModelSpec:
    task: str
    signature_name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    card: ModelCard  # the resolved card: what `kerasserve inspect` prints
    classify: ClassifyBinding | None = None
    forecast: ForecastBinding | None = None
    generate: GenerateBinding | None = None


def resolve_spec(
    card: ModelCard | None,
    signature_name: str,
    inputs: Mapping[str, TensorInfo],
    outputs: Mapping[str, TensorInfo],
    labels_file: list[str] | None = None,
) -> ModelSpec:
    """Reconcile a (maybe partial, maybe absent) card with the signature's tensors."""
    card = card or ModelCard()
    inputs = _ordered(inputs, card.inputs, "input")
    outputs = _ordered(outputs, card.outputs, "output")
    binding = _classify_binding(card, inputs, outputs, labels_file)
    task = card.task or ("classify" if binding is not None else "predict")
    if task == "classify" and binding is None:
        raise SpecError(
            "card says classify, but the model has no single NHWC image input with a "
            f"score output (inputs {_describe(inputs)}; outputs {_describe(outputs)})"
        )
    if task in ("forecast", "generate") and (card.image is not None or card.output is not None):
        raise SpecError(f"a {task} card takes no 'image' or 'output' block")
    if task != "classify":
        binding = None
    resolved = card.model_copy(
        update={
            "task": task,
            "signature_name": signature_name,
            "inputs": _descriptions(inputs),
            "outputs": _descriptions(outputs),
            "labels": list(binding.labels) if binding else card.labels,
            "image": binding.image if binding else None,
        }
    )
    spec = ModelSpec(task, signature_name, dict(inputs), dict(outputs), resolved, binding)
    try:
        if task == "forecast":
            return replace(spec, forecast=bind_forecaster(card, inputs, outputs))
        if task == "generate":
            return replace(spec, generate=bind_generator(card, inputs, outputs))
    except BindingError as exc:
        raise SpecError(f"card says {task}, but {exc}") from exc
    return spec


def with_scores(spec: ModelSpec, scores: OutputKind) -> ModelSpec:
    """The spec once the warm-up batch has told how to read the scores."""
    if spec.classify is None:
        return spec
    binding = replace(spec.classify, scores=scores)
    return replace(spec, card=spec.card.model_copy(update={"output": scores}), classify=binding)


def _ordered(
    actual: Mapping[str, TensorInfo],
    declared: Mapping[str, TensorDescription] | None,
    kind: str,
) -> dict[str, TensorInfo]:
    """The signature's tensors, in the card's order when it lists them (and agrees)."""
    if declared is None:
        return dict(actual)
    if set(declared) != set(actual):
        raise SpecError(f"{kind}s are {sorted(actual)}, card says {sorted(declared)}")
    problems = []
    for name, description in declared.items():
        said = TensorInfo(description.dtype, tuple(description.shape))
        if said != actual[name]:
            problems.append(
                f"{kind} {name!r} is {actual[name].describe()}, card says {said.describe()}"
            )
    if problems:
        raise SpecError("signature does not match the card: " + "; ".join(problems))
    return {name: actual[name] for name in declared}


def _descriptions(infos: Mapping[str, TensorInfo]) -> dict[str, TensorDescription]:
    return {name: TensorDescription(dtype=i.dtype, shape=i.shape) for name, i in infos.items()}


def _describe(infos: Mapping[str, TensorInfo]) -> str:
    return ", ".join(f"{name}: {info.describe()}" for name, info in infos.items()) or "none"


def _classify_binding(
    card: ModelCard,
    inputs: Mapping[str, TensorInfo],
    outputs: Mapping[str, TensorInfo],
    labels_file: list[str] | None,
) -> ClassifyBinding | None:
    """The image input and score output, or None when the model is not a classifier."""
    if card.task not in (None, "classify"):
        return None
    image_input = _image_input(inputs)
    score_output = _score_output(outputs)
    if image_input is None or score_output is None:
        if card.image is not None and card.task is None:
            raise SpecError(
                "card has an 'image' block, but the model has no single NHWC image input "
                f"with a score output (inputs {_describe(inputs)}; outputs {_describe(outputs)})"
            )
        return None
    info = inputs[image_input]
    columns = outputs[score_output].shape[1] or 1  # _score_output checked it is known
    classes = 2 if columns == 1 else columns
    labels = _labels(card.labels, labels_file, classes)
    image = resolve_image(card.image or ImageSpec(), image_input, info)
    return ClassifyBinding(
        image_input, score_output, info.dtype, image, labels, columns, card.output
    )


def _image_input(inputs: Mapping[str, TensorInfo]) -> str | None:
    if len(inputs) != 1:
        return None
    name, info = next(iter(inputs.items()))
    if len(info.shape) != 4 or info.dtype not in IMAGE_DTYPES:
        return None
    return name if info.shape[3] in (1, 3, 4) else None


def _score_output(outputs: Mapping[str, TensorInfo]) -> str | None:
    """`probabilities`, else `logits`, else the only output; rank 2 with a known width."""
    named = [name for name in SCORE_NAMES if name in outputs]
    candidates = named[:1] if named else list(outputs) if len(outputs) == 1 else []
    for name in candidates:
        shape = outputs[name].shape
        if len(shape) == 2 and shape[1] is not None and shape[1] >= 1:
            return name
    return None


def _labels(
    declared: list[str] | None, from_file: list[str] | None, classes: int
) -> tuple[str, ...]:
    for source, labels in (("card labels", declared), ("labels.txt", from_file)):
        if labels is not None:
            if len(labels) != classes:
                raise SpecError(f"{source} name {len(labels)} classes; the model has {classes}")
            return tuple(labels)
    return tuple(str(index) for index in range(classes))


def resolve_image(declared: ImageSpec, input_name: str, info: TensorInfo) -> ImageSpec:
    """Fill in size, colour and scale from the signature; refuse contradictions."""
    _, height, width, channels = info.shape
    if declared.size is not None:
        for axis, said, actual in (
            ("height", declared.size[0], height),
            ("width", declared.size[1], width),
        ):
            if actual is not None and said != actual:
                raise SpecError(f"image.size {axis} is {said}; input {input_name!r} has {actual}")
        size = declared.size
    elif height is None or width is None:
        raise SpecError(
            f"input {input_name!r} is {info.describe()}: its spatial size is open, so the "
            "card must give image.size [height, width]"
        )
    else:
        size = (height, width)
    color = declared.color or _COLORS[channels]  # type: ignore[index]
    if CHANNELS[color] != channels:
        raise SpecError(f"image.color {color} has {CHANNELS[color]} channels; input has {channels}")
    scale = declared.scale
    if isinstance(scale, CustomScale):
        for field, values in (("mean", scale.mean), ("std", scale.std)):
            if len(values) not in (0, 1, channels):
                raise SpecError(
                    f"image.scale.{field} has {len(values)} values; input has {channels} channels"
                )
    if info.dtype == "uint8":
        if scale not in (None, "raw"):
            raise SpecError(
                f"input {input_name!r} takes uint8 pixels as they are; scale must be raw"
            )
        scale = "raw"
    return declared.model_copy(
        update={
            "size": size,
            "color": color,
            "scale": scale or "raw",
            "interpolation": declared.resampling,
        }
    )
