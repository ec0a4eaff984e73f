"""Model cards: the JSON beside each version that says what it is and how it was made.

The service reads the card to learn a model's task, labels, tensor names and how to
feed it images. The schema is `service.card.ModelCard`; every card written here is
validated against it, so training cannot write a card the service would refuse.
"""

import json
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import keras
import tensorflow as tf

from service.card import CARD_FILE, CHANNELS, Color, ImageSpec, Runtime, parse_card

Task = Literal["classify", "forecast", "generate"]

# The zoo's 28x28 classifiers: fit and centre like MNIST, pixels in [0, 1], light on dark.
MNIST_IMAGE = ImageSpec(
    size=(28, 28),
    color="gray",
    resize="mnist",
    interpolation="lanczos",
    scale="unit",
    polarity="auto",
)


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


def tensor_spec(tensor: Any) -> dict[str, Any]:
    """Name, dtype and shape (None for the batch) of a Keras tensor."""
    return {
        "dtype": str(tensor.dtype),
        "shape": [None if d is None else int(d) for d in tensor.shape],
    }


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


def serving_spec(serving_model: keras.Model) -> dict[str, dict[str, Any]]:
    """Inputs and outputs of the exported ``serving_default`` signature."""
    outputs = serving_model.output
    return {
        "inputs": {t.name.split(":")[0]: tensor_spec(t) for t in serving_model.inputs},
        "outputs": {name: tensor_spec(t) for name, t in outputs.items()},
    }


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
    task_params: Mapping[str, Any],
    plots: Sequence[str],
    image: ImageSpec | None = None,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Assemble the card; every argument but ``image`` (image models only) and ``runtime``
    (the serving runtime to ask for, see docs/serving.md) is required."""
    spec = serving_spec(serving_model)
    card: dict[str, Any] = {
        "name": name,
        "version": version,
        "task": task,
        "signature_name": "serving_default",
        "inputs": spec["inputs"],
        "outputs": spec["outputs"],
        "labels": list(labels),
        "preprocessing": preprocessing,
        "task_params": dict(task_params),
        **({"runtime": runtime} if runtime is not None else {}),
        "parameters": int(model.count_params()),
        "architecture": model.name,
        "layers": layer_summary(model),
        "metrics": dict(metrics),
        "data": dict(data),
        "training": dict(training),
        "plots": list(plots),
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "python_version": platform.python_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if image is not None:
        card["image"] = image.model_dump(mode="json", exclude_none=True)
    parse_card(card)  # refuses anything the service would refuse
    return card


def write_card(version_dir: Path, card: Mapping[str, Any]) -> Path:
    path = version_dir / CARD_FILE
    path.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    return path


def read_card(version_dir: Path) -> dict[str, Any]:
    path = version_dir / CARD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{version_dir} has no {CARD_FILE}")
    card: dict[str, Any] = json.loads(path.read_text())
    return card
