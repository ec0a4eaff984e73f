"""Export trained models as versioned SavedModels with explicit serving signatures.

A version is written to a hidden staging directory and renamed into place only
when the SavedModel, card and plots are all on disk, so a server polling
``models/<name>/`` never sees a half-written version. Versions are never
overwritten: each export takes the next integer.
"""

import logging
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from keras import layers, ops

logger = logging.getLogger(__name__)

KERAS_FILE = "model.keras"
VERSION_PATTERN = re.compile(r"^[1-9][0-9]*$")


def image_input_spec(image_shape: tuple[int, int, int]) -> tf.TensorSpec:
    """The ``images`` input of an exported classifier: float32 ``[None, H, W, C]``."""
    return tf.TensorSpec([None, *image_shape], tf.float32, name="images")


IMAGE_SPEC = image_input_spec((28, 28, 1))


def existing_versions(model_root: Path) -> list[int]:
    """Integer versions already exported under ``model_root``, ascending."""
    if not model_root.is_dir():
        return []
    return sorted(
        int(p.name) for p in model_root.iterdir() if p.is_dir() and VERSION_PATTERN.match(p.name)
    )


@dataclass(frozen=True)
class StagedVersion:
    """A version being written to ``staging``; it becomes ``target`` when complete."""

    staging: Path
    target: Path

    @property
    def version(self) -> int:
        return int(self.target.name)


@contextmanager
def staged_version(models_dir: Path, name: str) -> Iterator[StagedVersion]:
    """Yield a staging directory; when the block succeeds, rename it to the next version.

    ``rename`` is atomic on one filesystem and refuses to replace a non-empty
    directory, so an existing version is never overwritten.
    """
    model_root = models_dir / name
    model_root.mkdir(parents=True, exist_ok=True)
    versions = existing_versions(model_root)
    target = model_root / str((versions[-1] if versions else 0) + 1)
    staged = StagedVersion(model_root / f".staging-{target.name}-{uuid.uuid4().hex[:8]}", target)
    staged.staging.mkdir()
    try:
        yield staged
        if target.exists():
            raise FileExistsError(f"{target} appeared while exporting; refusing to overwrite it")
        staged.staging.rename(target)
    finally:
        shutil.rmtree(staged.staging, ignore_errors=True)


@keras.saving.register_keras_serializable(package="kerasserve")
class HorizontalFlip(layers.Layer):
    """Mirror ``[N, H, W, C]`` images left to right, always (``RandomFlip`` is for training)."""

    def call(self, images: Any) -> Any:
        return ops.flip(images, axis=2)


def classifier_serving_model(model: keras.Model, flip_average: bool = False) -> keras.Model:
    """Named outputs for serving: ``probabilities`` (softmax), ``logits``, ``features``.

    With ``flip_average`` the model also sees each image mirrored and every output is
    the mean of the two, the test-time averaging of AlexNet (Krizhevsky et al., 2012,
    who averaged ten crops and their reflections); ``probabilities`` stays the softmax
    of ``logits``.
    """
    if not flip_average:
        logits, features = model.output, model.get_layer("features").output
        images = model.input
    else:
        branch = keras.Model(
            model.input, [model.output, model.get_layer("features").output], name=model.name
        )
        images = keras.Input(shape=tuple(model.input.shape[1:]), name=model.layers[0].name)
        plain_logits, plain_features = branch(images)
        mirror_logits, mirror_features = branch(HorizontalFlip(name="mirror")(images))
        logits = layers.Average(name="logits")([plain_logits, mirror_logits])
        features = layers.Average(name="features")([plain_features, mirror_features])
    probabilities = layers.Softmax(dtype="float32", name="probabilities")(logits)
    return keras.Model(
        images,
        {"probabilities": probabilities, "logits": logits, "features": features},
        name=f"{model.name}_serving",
    )


def generator_serving_model(generator: keras.Model) -> keras.Model:
    """Generator with images mapped from tanh's [-1, 1] to pixel values in [0, 1]."""
    images = layers.Rescaling(0.5, offset=0.5, dtype="float32", name="images")(generator.output)
    return keras.Model(generator.inputs, {"images": images}, name="generator_serving")


def forecaster_serving_model(forecaster: keras.Model) -> keras.Model:
    """Forecaster with its output named ``forecast``."""
    return keras.Model(forecaster.input, {"forecast": forecaster.output}, name="forecaster_serving")


def export_saved_model(
    model: keras.Model,
    path: Path,
    input_signature: list[tf.TensorSpec],
    native: keras.Model | None = None,
) -> None:
    """``model.export()`` with named inputs; ``serving_default`` is what servers call.

    Several inputs go in as one dict keyed by input name, the form a Functional
    model with named inputs accepts, so the signature's arguments carry those names.
    ``native`` is the model kept as ``model.keras`` (default: ``model``).
    """
    signature: list[Any] = list(input_signature)
    if len(input_signature) > 1:
        signature = [{spec.name: spec for spec in input_signature}]
    model.export(str(path), format="tf_saved_model", input_signature=signature, verbose=False)
    save_keras_native(model if native is None else native, path)


def save_keras_native(model: keras.Model, path: Path) -> None:
    """Keep ``model.keras`` beside the SavedModel so the version can be fine-tuned.

    The service never reads it. A model Keras cannot serialise still exports
    (the SavedModel is what serves); the warning says what is missing.
    """
    try:
        model.save(path / KERAS_FILE)
    except (TypeError, ValueError, NotImplementedError) as exc:
        (path / KERAS_FILE).unlink(missing_ok=True)
        logger.warning("exported %s without %s: %s", path.name, KERAS_FILE, exc)
