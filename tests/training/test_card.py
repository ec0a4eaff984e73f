"""The card as training writes and reads it: typed `ModelCard`, JSON only at the edges.

Every committed card must parse with the typed model and give back the JSON it was
read from, so typing the card changed nothing on disk.
"""

import json
from pathlib import Path
from typing import Any, get_args

import pytest

from service.card import CARD_FILE, ModelCard, Task, TaskParams
from tests.utils.training import MODELS
from training.card import (
    ClassifierParams,
    DataFacts,
    ForecasterParams,
    GeneratorMetrics,
    GeneratorParams,
    TrainingFacts,
    build_card,
    card_view,
    read_card,
    write_card,
)
from training.recipes import RECIPES

COMMITTED = sorted(MODELS.glob(f"*/*/{CARD_FILE}"))
# Cards written before the image block had `antialias`: the typed card fills in its default.
FILLED_IMAGE_DEFAULTS = {"antialias": True}


def with_filled_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    if "image" not in raw:
        return raw
    return {**raw, "image": {**FILLED_IMAGE_DEFAULTS, **raw["image"]}}


def test_every_committed_version_has_a_card():
    assert len(COMMITTED) >= 10


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_committed_card_round_trips(path: Path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    card = read_card(path.parent)
    assert card.model_dump(mode="json", exclude_none=True, exclude_unset=True) == raw
    assert card.to_json() == with_filled_defaults(raw)
    assert ModelCard.model_validate(card.to_json()) == card


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_committed_card_has_what_training_reads_back(path: Path):
    card = read_card(path.parent)
    card_view(DataFacts, card.data, "data")
    card_view(TrainingFacts, card.training, "training")
    if card.task == "classify":
        card_view(ClassifierParams, card.task_params, "task_params")
    if card.task == "forecast":
        card_view(ForecasterParams, card.task_params, "task_params")
        assert card_view(DataFacts, card.data, "data").split.test_months is not None
    if card.task == "generate":
        card_view(GeneratorParams, card.task_params, "task_params")
        card_view(GeneratorMetrics, card.metrics, "metrics")


def test_a_missing_key_is_named():
    card = read_card(MODELS / "mnist_cgan" / "2")
    with pytest.raises(ValueError, match="task_params: window"):
        card_view(ForecasterParams, card.task_params, "task_params")


def test_built_card_survives_write_and_read(tmp_path: Path):
    from training.export import classifier_serving_model
    from training.models import build_mlp

    model = build_mlp(hidden_units=(4,))
    card = build_card(
        name="tiny",
        version=1,
        task="classify",
        model=model,
        serving_model=classifier_serving_model(model),
        labels=[str(k) for k in range(10)],
        preprocessing="test",
        metrics={"test_accuracy": 0.5},
        data={"dataset": "fashion_mnist", "source": "none", "checksum": "0"},
        training={"seed": 1, "hyperparameters": {"lr": 1e-3, "augment": "none"}},
        task_params=TaskParams(image_shape=(28, 28, 1), num_classes=10),
        plots=[],
    )
    write_card(tmp_path, card)
    assert read_card(tmp_path) == card
    assert card_view(TrainingFacts, card.training, "training").hyperparameters["lr"] == 1e-3


def test_training_tasks_are_the_serving_enumeration():
    from training.tasks import get_runner

    assert {recipe.task for recipe in RECIPES.values()} <= set(get_args(Task))
    with pytest.raises(ValueError, match="no runner for the 'predict' task"):
        get_runner("predict")


def test_a_version_without_a_card_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=CARD_FILE):
        read_card(tmp_path)
