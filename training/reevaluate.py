"""``evaluate <version dir>``: recompute a version's test figures from disk.

The card says which task, data, split and seed made the version, so the
figures can be reproduced by anyone holding the SavedModel.
"""

import logging
from pathlib import Path
from typing import Any

from training.card import read_card

logger = logging.getLogger(__name__)


def evaluate_version(
    version_dir: Path, data_dir: Path | None, models_dir: Path | None
) -> dict[str, Any]:
    card = read_card(version_dir)
    task = card["task"]
    if task == "classify":
        return _classifier(version_dir, card, data_dir)
    if task == "forecast":
        return _forecaster(version_dir, card)
    if task == "generate":
        return _generator(version_dir, card, data_dir, models_dir or version_dir.parent.parent)
    raise ValueError(f"{version_dir}: unknown task {task!r} in its card")


def _images(card: dict[str, Any], data_dir: Path | None) -> Any:
    from training.datasets import load_image_dataset

    data = load_image_dataset(
        card["data"]["dataset"],
        local_dir=data_dir,
        seed=card["training"]["seed"],
        label_mode=card["data"].get("label_mode"),
    )
    if data.checksum != card["data"]["checksum"]:
        logger.warning(
            "data checksum %s differs from the card's %s (source %s vs %s): figures may differ",
            data.checksum,
            card["data"]["checksum"],
            data.source,
            card["data"]["source"],
        )
    return data


def _classifier(version_dir: Path, card: dict[str, Any], data_dir: Path | None) -> dict[str, Any]:
    from training.evaluate import evaluate_classifier

    data = _images(card, data_dir)
    metrics, _ = evaluate_classifier(version_dir, data.x_test, data.y_test)
    return metrics


def _forecaster(version_dir: Path, card: dict[str, Any]) -> dict[str, Any]:
    from training.datasets import load_co2
    from training.tasks.forecast import evaluate_forecaster

    values = load_co2().values
    params = card["task_params"]
    test_start = len(values) - int(card["data"]["split"]["test_months"])
    metrics, _ = evaluate_forecaster(
        version_dir, values, test_start, params["window"], params["horizon"]
    )
    return metrics


def _generator(
    version_dir: Path, card: dict[str, Any], data_dir: Path | None, models_dir: Path
) -> dict[str, Any]:
    from training.tasks.generate import evaluate_generator

    data = _images(card, data_dir)
    evaluator = models_dir / card["metrics"]["evaluator"]
    metrics, _ = evaluate_generator(
        version_dir,
        evaluator,
        data,
        int(card["task_params"]["latent_dim"]),
        int(card["metrics"]["samples_per_class"]),
        int(card["training"]["seed"]),
    )
    return metrics
