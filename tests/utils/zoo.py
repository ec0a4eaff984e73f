"""Tiny untrained versions of every model family, exported like the real zoo.

Service tests need real SavedModels with real cards in seconds; these have the
zoo's signatures and card fields but random weights.
"""

from pathlib import Path

import keras
import tensorflow as tf

from service.card import MNIST_IMAGE, ImageSpec
from training.card import build_card, write_card
from training.datasets import LABELS
from training.export import (
    IMAGE_SPEC,
    classifier_serving_model,
    export_saved_model,
    forecaster_serving_model,
    generator_serving_model,
    staged_version,
)
from training.models import build_generator, build_lstm_forecaster, build_mlp

FASHION_LABELS = LABELS["fashion_mnist"]
DIGITS = LABELS["mnist"]


def _publish(
    models_dir: Path,
    name: str,
    task: str,
    model: keras.Model,
    serving: keras.Model,
    signature: list[tf.TensorSpec],
    labels: tuple[str, ...],
    task_params: dict[str, object],
    image: ImageSpec | None = None,
) -> Path:
    with staged_version(models_dir, name) as staged:
        export_saved_model(serving, staged.staging, signature)
        card = build_card(
            name=name,
            version=staged.version,
            task=task,  # type: ignore[arg-type]
            model=model,
            serving_model=serving,
            labels=labels,
            preprocessing="test model",
            metrics={},
            data={"dataset": "none", "source": "random weights"},
            training={"command": "tests/utils/zoo.py", "seed": 0},
            task_params=task_params,
            plots=[],
            image=image,
        )
        write_card(staged.staging, card)
    return staged.target


def export_tiny_classifier(models_dir: Path, name: str = "tiny_classifier", seed: int = 0) -> Path:
    """An MLP classifier (random weights) with the zoo's classifier signature."""
    keras.utils.set_random_seed(seed)
    model = build_mlp(hidden_units=(16, 8))
    params = {"image_shape": [28, 28, 1], "num_classes": 10}
    return _publish(
        models_dir,
        name,
        "classify",
        model,
        classifier_serving_model(model),
        [IMAGE_SPEC],
        FASHION_LABELS,
        params,
        MNIST_IMAGE,
    )


def export_tiny_forecaster(
    models_dir: Path, name: str = "tiny_forecaster", window: int = 12, horizon: int = 3
) -> Path:
    model = build_lstm_forecaster(window, horizon, scale=1.0, units=4)
    spec = [tf.TensorSpec([None, window], tf.float32, name="series")]
    params = {"window": window, "horizon": horizon, "unit": "ppm", "frequency": "monthly"}
    serving = forecaster_serving_model(model)
    return _publish(models_dir, name, "forecast", model, serving, spec, (), params)


def export_tiny_generator(
    models_dir: Path, name: str = "tiny_generator", latent_dim: int = 8
) -> Path:
    model = build_generator(latent_dim=latent_dim, base_filters=8)
    spec = [
        tf.TensorSpec([None, latent_dim], tf.float32, name="noise"),
        tf.TensorSpec([None], tf.int32, name="labels"),
    ]
    params = {"latent_dim": latent_dim, "num_classes": 10, "image_shape": [28, 28, 1]}
    serving = generator_serving_model(model)
    return _publish(models_dir, name, "generate", model, serving, spec, DIGITS, params)


def export_tiny_zoo(models_dir: Path) -> dict[str, Path]:
    """One tiny model of each family under ``models_dir``."""
    return {
        "classify": export_tiny_classifier(models_dir),
        "forecast": export_tiny_forecaster(models_dir),
        "generate": export_tiny_generator(models_dir),
    }
