"""Model cards: the JSON beside each version that says what it is and how it was made.

The service reads the card to learn a model's task, labels, tensor names and how to
feed it images. The card is `service.card.ModelCard` here too: built typed, so training
cannot write a card the service would refuse, and turned into JSON only when written
(`write_card`) or read back (`read_card`). The provenance blocks (`data`, `training`,
`metrics`) stay free-form on disk; the few keys training reads back have typed views
(`DataFacts`, `TrainingFacts`, `GeneratorMetrics`, and per-task parameters).
"""

import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import keras
import tensorflow as tf
from pydantic import BaseModel, ConfigDict, ValidationError

from service.card import (
    CARD_FILE,
    CHANNELS,
    CardError,
    Color,
    ImageSpec,
    ModelCard,
    PositiveInt,
    Runtime,
    Task,
    TaskParams,
    TensorDescription,
    describe_validation_error,
)
from service.card import read_card as read_card_if_any
from service.card import write_card as write_card
from training.datasets.cifar import LabelMode
from training.recipes import HParams


def plain_image(image_shape: tuple[int, int, int]) -> ImageSpec:
    """Images taken as they come: stretched to ``[h, w]``, pixels in [0, 1], never inverted."""
    height, width, channels = image_shape
    colors: dict[int, Color] = {count: color for color, count in CHANNELS.items()}
    if channels not in colors:
        raise ValueError(f"no image colour has {channels} channels")
    return ImageSpec(
        size=(height, width),
        color=colors[channels],
        resize="stretch",
        scale="unit",
        polarity="keep",
    )


def tensor_spec(tensor: Any) -> TensorDescription:
    """Dtype and shape (None for the batch) of a Keras tensor."""
    return TensorDescription(
        dtype=str(tensor.dtype),
        shape=tuple(None if d is None else int(d) for d in tensor.shape),
    )


def layer_summary(model: keras.Model) -> list[dict[str, Any]]:
    """One line per layer: name, type, output shape and parameter count."""
    rows = []
    for layer in model.layers:
        output = getattr(layer, "output", None)
        shape = list(output.shape) if output is not None and hasattr(output, "shape") else None
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": shape,
                "parameters": int(layer.count_params()),
            }
        )
    return rows


def serving_spec(
    serving_model: keras.Model,
) -> tuple[dict[str, TensorDescription], dict[str, TensorDescription]]:
    """Inputs and outputs of the exported ``serving_default`` signature."""
    inputs = {t.name.split(":")[0]: tensor_spec(t) for t in serving_model.inputs}
    outputs = {name: tensor_spec(t) for name, t in serving_model.output.items()}
    return inputs, outputs


def build_card(
    *,
    name: str,
    version: int,
    task: Task,
    model: keras.Model,
    serving_model: keras.Model,
    labels: Sequence[str],
    preprocessing: str,
    metrics: Mapping[str, Any],
    data: Mapping[str, Any],
    training: Mapping[str, Any],
    task_params: TaskParams | Mapping[str, Any],
    plots: Sequence[str],
    image: ImageSpec | None = None,
    runtime: Runtime | None = None,
) -> ModelCard:
    """Assemble the card; every argument but ``image`` (image models only) and ``runtime``
    (the serving runtime to ask for, see docs/serving.md) is required."""
    inputs, outputs = serving_spec(serving_model)
    return ModelCard(
        name=name,
        version=version,
        task=task,
        signature_name="serving_default",
        inputs=inputs,
        outputs=outputs,
        labels=list(labels),
        preprocessing=preprocessing,
        task_params=TaskParams.model_validate(task_params),
        runtime=runtime,
        parameters=int(model.count_params()),
        architecture=model.name,
        layers=layer_summary(model),
        metrics=dict(metrics),
        data=dict(data),
        training=dict(training),
        plots=list(plots),
        tensorflow_version=tf.__version__,
        keras_version=keras.__version__,
        python_version=platform.python_version(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        image=image,
    )


def read_card(version_dir: Path) -> ModelCard:
    """The version's card; training only reads versions it made, so a missing one is an error."""
    card = read_card_if_any(version_dir)
    if card is None:
        raise FileNotFoundError(f"{version_dir} has no {CARD_FILE}")
    return card


class CardFacts(BaseModel):
    """A typed view of a free-form card block: the keys training reads; the rest kept."""

    model_config = ConfigDict(extra="allow", frozen=True)


class SplitFacts(CardFacts):
    test_months: PositiveInt | None = None  # chronological splits (the forecaster)


class DataFacts(CardFacts):
    """``data``: which dataset made the version, so its figures can be recomputed."""

    dataset: str
    source: str
    checksum: str
    label_mode: LabelMode | None = None
    split: SplitFacts = SplitFacts()


class TrainingFacts(CardFacts):
    """``training``: the seed and hyperparameters that reproduce the version."""

    seed: int
    hyperparameters: HParams


class GeneratorMetrics(CardFacts):
    """``metrics`` of a generator: the classifier that judged it and on how many samples."""

    evaluator: str
    samples_per_class: PositiveInt


class ClassifierParams(CardFacts):
    image_shape: tuple[PositiveInt, PositiveInt, PositiveInt]
    num_classes: PositiveInt


class ForecasterParams(CardFacts):
    window: PositiveInt
    horizon: PositiveInt


class GeneratorParams(CardFacts):
    latent_dim: PositiveInt
    num_classes: PositiveInt


View = TypeVar("View", bound=CardFacts)


def card_view(kind: type[View], block: object, where: str) -> View:
    """``block`` (a card's dict or typed block) read as ``kind``; `CardError` names what is
    missing, so an old or foreign card fails with a reason rather than a KeyError."""
    try:
        return kind.model_validate(block or {}, from_attributes=isinstance(block, BaseModel))
    except ValidationError as exc:
        raise CardError(f"{CARD_FILE} {where}: {describe_validation_error(exc)}") from exc
