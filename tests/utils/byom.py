"""Models as users bring them: plain `model.export()`, no card unless a test gives one.

Each builder exports a small Keras model with random weights into
``<models_dir>/<name>/1`` and returns that directory. Accuracy does not matter here;
what matters is that the service reads each one from its signature alone.
"""

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers


def _export(model: keras.Model, models_dir: Path, name: str, **extra: Any) -> Path:
    version_dir = models_dir / name / "1"
    model.export(str(version_dir), format="tf_saved_model", verbose=False)
    card = extra.get("card")
    if card is not None:
        (version_dir / "model_card.json").write_text(json.dumps(card))
    labels = extra.get("labels")
    if labels is not None:
        (version_dir / "labels.txt").write_text("\n".join(labels) + "\n")
    return version_dir


def rgb_rescaling(models_dir: Path, name: str = "rgb32") -> Path:
    """32x32 RGB with `Rescaling(1/255)` inside, softmax over 4 classes, a labels.txt."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((32, 32, 3), name="picture")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    return _export(model, models_dir, name, labels=["cat", "dog", "fox", "owl"])


def gray_uint8(models_dir: Path, name: str = "gray_uint8") -> Path:
    """A non-square (20 high, 36 wide) grayscale model fed uint8, returning logits."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((20, 36, 1), dtype="uint8")
    x = layers.Rescaling(1 / 255)(layers.Flatten()(inputs))
    outputs = layers.Dense(3)(x)
    return _export(keras.Model(inputs, outputs), models_dir, name)


def mobilenet(models_dir: Path, name: str = "mobilenet") -> Path:
    """`keras.applications.MobileNetV3Small` at 96x96, preprocessing inside, 5 classes."""
    keras.utils.set_random_seed(3)
    model = keras.applications.MobileNetV3Small(
        input_shape=(96, 96, 3), weights=None, classes=5, include_preprocessing=True
    )
    return _export(model, models_dir, name)


def torch_normalised(models_dir: Path, name: str = "torch_norm") -> Path:
    """Expects ImageNet mean/std normalised input: a partial card says so."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((24, 24, 3))
    x = layers.GlobalAveragePooling2D()(inputs)
    outputs = layers.Dense(3, activation="softmax")(layers.Dense(8, activation="tanh")(x))
    card = {"image": {"scale": "torch"}, "labels": ["red", "green", "blue"]}
    return _export(keras.Model(inputs, outputs), models_dir, name, card=card)


def binary_sigmoid(models_dir: Path, name: str = "binary") -> Path:
    """One sigmoid unit on a 24x24 grayscale image: a two-class classifier."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((24, 24, 1))
    x = layers.Flatten()(layers.Rescaling(1 / 255)(inputs))
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return _export(keras.Model(inputs, outputs), models_dir, name, labels=["no", "yes"])


def open_size(models_dir: Path, name: str = "open_size") -> Path:
    """Any spatial size in the signature; the card fixes it at 40 high, 30 wide."""
    keras.utils.set_random_seed(6)
    inputs = keras.Input((None, None, 3))
    x = layers.Conv2D(4, 3, activation="relu")(layers.Rescaling(1 / 255)(inputs))
    outputs = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    card = {"image": {"size": [40, 30], "resize": "pad"}}
    return _export(keras.Model(inputs, outputs), models_dir, name, card=card)


def tabular(models_dir: Path, name: str = "tabular") -> Path:
    """A regressor on 4 features: served as generic tensors (task predict)."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((4,), name="features")
    outputs = layers.Dense(1)(layers.Dense(8, activation="relu")(inputs))
    return _export(keras.Model(inputs, outputs), models_dir, name)


def damaged(models_dir: Path, source: Path, name: str = "damaged") -> Path:
    """A copy of ``source`` whose graph file is cut short, as a broken upload leaves it."""
    version_dir = models_dir / name / "1"
    (version_dir / "variables").mkdir(parents=True)
    for relative in ("variables/variables.index", "variables/variables.data-00000-of-00001"):
        (version_dir / relative).write_bytes((source / relative).read_bytes())
    graph = (source / "saved_model.pb").read_bytes()
    (version_dir / "saved_model.pb").write_bytes(graph[: len(graph) // 3])
    return version_dir


def foreign(models_dir: Path, name: str = "foreign") -> Path:
    """Not a SavedModel at all: a Keras file dropped into a version directory."""
    version_dir = models_dir / name / "1"
    version_dir.mkdir(parents=True)
    (version_dir / "model.keras").write_bytes(np.arange(64, dtype=np.uint8).tobytes())
    return version_dir


def export_all(models_dir: Path) -> dict[str, Path]:
    """Every kind above under ``models_dir``."""
    made = {
        "rgb32": rgb_rescaling(models_dir),
        "gray_uint8": gray_uint8(models_dir),
        "mobilenet": mobilenet(models_dir),
        "torch_norm": torch_normalised(models_dir),
        "binary": binary_sigmoid(models_dir),
        "open_size": open_size(models_dir),
        "tabular": tabular(models_dir),
        "foreign": foreign(models_dir),
    }
    made["damaged"] = damaged(models_dir, made["rgb32"])
    return made
