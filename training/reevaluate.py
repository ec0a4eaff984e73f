"""``evaluate <version dir>``: recompute a version's test figures from disk.

The card says which task, data, split and seed made the version, so the
figures can be reproduced by anyone holding the SavedModel.
"""

import logging
from pathlib import Path
from typing import Any

from service.card import ModelCard
from training.card import (
    DataFacts,
    ForecasterParams,
    GeneratorMetrics,
    GeneratorParams,
    TrainingFacts,
    card_view,
    read_card,
)

logger = logging.getLogger(__name__)


def evaluate_version(
    version_dir: Path, data_dir: Path | None, models_dir: Path | None
) -> dict[str, Any]:
    card = read_card(version_dir)
    if card.task == "classify":
        return _classifier(version_dir, card, data_dir)
    if card.task == "forecast":
        return _forecaster(version_dir, card)
    if card.task == "generate":
        return _generator(version_dir, card, data_dir, models_dir or version_dir.parent.parent)
    raise ValueError(f"{version_dir}: unknown task {card.task!r} in its card")


def _images(card: ModelCard, data_dir: Path | None) -> Any:
    from training.datasets import load_image_dataset

    facts = card_view(DataFacts, card.data, "data")
    data = load_image_dataset(
        facts.dataset,  # type: ignore[arg-type]
        local_dir=data_dir,
        seed=card_view(TrainingFacts, card.training, "training").seed,
        label_mode=facts.label_mode,
    )
    if data.checksum != facts.checksum:
        logger.warning(
            "data checksum %s differs from the card's %s (source %s vs %s): figures may differ",
            data.checksum,
            facts.checksum,
            data.source,
            facts.source,
        )
    return data


def _classifier(version_dir: Path, card: ModelCard, data_dir: Path | None) -> dict[str, Any]:
    from training.evaluate import evaluate_classifier

    data = _images(card, data_dir)
    metrics, _ = evaluate_classifier(version_dir, data.x_test, data.y_test)
    return metrics


def _forecaster(version_dir: Path, card: ModelCard) -> dict[str, Any]:
    from training.datasets import load_co2
    from training.tasks.forecast_evaluation import evaluate_forecaster

    values = load_co2().values
    params = card_view(ForecasterParams, card.task_params, "task_params")
    test_months = card_view(DataFacts, card.data, "data").split.test_months
    if test_months is None:
        raise ValueError(f"{version_dir}: its card's data.split gives no test_months")
    metrics, _ = evaluate_forecaster(
        version_dir, values, len(values) - test_months, params.window, params.horizon
    )
    return metrics


def _generator(
    version_dir: Path, card: ModelCard, data_dir: Path | None, models_dir: Path
) -> dict[str, Any]:
    from training.tasks.generate import evaluate_generator

    data = _images(card, data_dir)
    judged = card_view(GeneratorMetrics, card.metrics, "metrics")
    metrics, _ = evaluate_generator(
        version_dir,
        models_dir / judged.evaluator,
        data,
        card_view(GeneratorParams, card.task_params, "task_params").latent_dim,
        judged.samples_per_class,
        card_view(TrainingFacts, card.training, "training").seed,
    )
    return metrics
