"""A tiny train -> export -> reload -> evaluate run for every model family.

Real command line, real SavedModels on disk, the committed IDX fixture as data.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.utils.cifar_archive import synthetic_cifar100
from tests.utils.training import IDX_FIXTURE, card_json, run_cli
from training.card import read_card
from training.recipes import get_recipe

LOCAL_DATA = ("--data-dir", str(IDX_FIXTURE), "--data-source", "local")
TINY = ("--set", "epochs=2", "--verbose", "0")


@pytest.mark.parametrize(
    "recipe", ["fashion_mlp", "mnist_lenet", "fashion_cnn", "fashion_alexnet", "fashion_inception"]
)
def test_classifier_round_trip(recipe, tmp_path, offline_cache):
    models = tmp_path / "models"
    run_cli("train", recipe, "--models-dir", str(models), *LOCAL_DATA, *TINY, cwd=tmp_path)
    version = models / recipe / "1"
    card = card_json(version)
    assert card["task"] == "classify"
    assert card["version"] == 1
    assert card["inputs"] == {"images": {"dtype": "float32", "shape": [None, 28, 28, 1]}}
    assert {"probabilities", "logits", "features"} <= set(card["outputs"])
    assert len(card["labels"]) == 10
    assert card["data"]["source"].startswith("local:")
    assert card["training"]["command"].startswith("python -m training train " + recipe)
    assert card["training"]["fit_seconds"] >= 0
    assert ("reference" in card["training"]) == bool(get_recipe(recipe).reference)
    assert (version / "learning_curves.png").stat().st_size > 0
    assert (version / "confusion_matrix.png").stat().st_size > 0

    signature = tf.saved_model.load(str(version)).signatures["serving_default"]
    out = signature(images=tf.zeros([2, 28, 28, 1]))
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        tf.nn.softmax(out["logits"]).numpy(), out["probabilities"].numpy(), atol=1e-6
    )

    evaluated = json.loads(
        run_cli("evaluate", str(version), "--data-dir", str(IDX_FIXTURE), cwd=tmp_path).stdout
    )
    assert evaluated["test_accuracy"] == card["metrics"]["test_accuracy"]
    members = int(get_recipe(recipe).hparams["members"])
    if members > 1:  # fitted side by side from distinct seeds, scored together on validation
        seeds = [member["seed"] for member in card["training"]["members"]]
        assert len(set(seeds)) == members
        assert 0.0 <= card["metrics"]["val_accuracy"] <= 1.0


def test_cifar100_recipe_exports_a_32x32_rgb_classifier(tmp_path, offline_cache):
    """The synthetic canonical archive stands in for the real one, unreachable here."""
    data = synthetic_cifar100(tmp_path / "download").parent
    models = tmp_path / "models"
    local = ("--data-dir", str(data), "--data-source", "local")
    run_cli("train", "cifar100_vgg", "--models-dir", str(models), *local, *TINY, cwd=tmp_path)
    version = models / "cifar100_vgg" / "1"
    card = card_json(version)
    assert card["inputs"] == {"images": {"dtype": "float32", "shape": [None, 32, 32, 3]}}
    expected_image = {
        "size": [32, 32],
        "color": "rgb",
        "resize": "stretch",
        "scale": "unit",
        "polarity": "keep",
    }
    assert card["image"].items() >= expected_image.items()
    assert card["task_params"] == {"image_shape": [32, 32, 3], "num_classes": 100}
    assert card["labels"][:2] == ["apple", "aquarium_fish"] and len(card["labels"]) == 100
    assert card["data"]["label_mode"] == "fine"
    assert "32, 32, 3" in card["preprocessing"]
    signature = tf.saved_model.load(str(version)).signatures["serving_default"]
    assert signature(images=tf.zeros([2, 32, 32, 3]))["probabilities"].shape == (2, 100)
    evaluated = json.loads(
        run_cli("evaluate", str(version), "--data-dir", str(data), cwd=tmp_path).stdout
    )
    assert evaluated["test_accuracy"] == card["metrics"]["test_accuracy"]


def test_versions_are_never_overwritten(tmp_path, offline_cache):
    models = tmp_path / "models"
    for _ in range(2):
        run_cli(
            "train",
            "fashion_mlp",
            "--models-dir",
            str(models),
            *LOCAL_DATA,
            *TINY,
            "--limit",
            "50",
            cwd=tmp_path,
        )
    assert sorted(p.name for p in (models / "fashion_mlp").iterdir()) == ["1", "2"]
    assert read_card(models / "fashion_mlp" / "2").version == 2


def test_forecaster_round_trip(tmp_path):
    models = tmp_path / "models"
    run_cli(
        "train",
        "co2_lstm",
        "--models-dir",
        str(models),
        "--set",
        "units=8",
        "--set",
        "window=60",
        "--set",
        "member_window=24",
        "--set",
        "members=2",
        *TINY,
        cwd=tmp_path,
    )
    version = models / "co2_lstm" / "1"
    card = card_json(version)
    assert card["task"] == "forecast"
    assert card["runtime"] == "xla"  # the recursion is compiled when served
    assert card["task_params"]["window"] == 60
    assert card["task_params"]["horizon"] == 12
    assert card["inputs"] == {"series": {"dtype": "float32", "shape": [None, 60]}}
    assert set(card["training"]["history"]) == {"lstm_1", "lstm_2"}
    assert 0.0 <= card["training"]["validation"]["blend_weight"] <= 1.0
    assert card["data"]["split"]["test_months"] == 120
    for key in (
        "test_mae_1_step",
        "test_mae_12_step",
        "mase_1_step",
        "seasonal_difference_naive_mae_1_step",
        "sarima_mae_1_step",
        "validation_mae_1_step",
    ):
        assert key in card["metrics"]
    forecast = tf.saved_model.load(str(version)).signatures["serving_default"](
        series=tf.constant(np.linspace(330, 340, 60, dtype=np.float32)[np.newaxis])
    )["forecast"]
    assert forecast.shape == (1, 12)
    evaluated = json.loads(run_cli("evaluate", str(version), cwd=tmp_path).stdout)
    assert evaluated["test_mae_1_step"] == card["metrics"]["test_mae_1_step"]


def test_generator_round_trip_is_judged_by_a_zoo_classifier(tmp_path, offline_cache):
    models = tmp_path / "models"
    run_cli("train", "mnist_lenet", "--models-dir", str(models), *LOCAL_DATA, *TINY, cwd=tmp_path)
    run_cli(
        "train",
        "mnist_cgan",
        "--models-dir",
        str(models),
        *LOCAL_DATA,
        *TINY,
        "--set",
        "base_filters=8",
        "--set",
        "samples_per_class=5",
        "--set",
        "batch_size=32",
        cwd=tmp_path,
    )
    version = models / "mnist_cgan" / "1"
    card = card_json(version)
    assert card["task"] == "generate"
    assert set(card["inputs"]) == {"noise", "labels"}
    assert card["metrics"]["evaluator"] == "mnist_lenet/1"
    assert 0.0 <= card["metrics"]["class_consistency"] <= 1.0
    assert card["metrics"]["frechet_distance"] >= 0.0
    assert (version / "sample_grid.png").stat().st_size > 0
    images = (
        tf.saved_model.load(str(version))
        .signatures["serving_default"](
            noise=tf.random.normal([3, 64]), labels=tf.constant([0, 5, 9])
        )["images"]
        .numpy()
    )
    assert images.shape == (3, 28, 28, 1)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_grid_search_exports_the_best_combination(tmp_path, offline_cache):
    models = tmp_path / "models"
    result = run_cli(
        "grid",
        "fashion_mlp",
        "--models-dir",
        str(models),
        *LOCAL_DATA,
        *TINY,
        "--param",
        "lr=1e-2,1e-4",
        "--param",
        "dropout=0.0,0.5",
        cwd=tmp_path,
    )
    table = [line for line in result.stdout.splitlines() if line.count("|") >= 4]
    assert len(table) == 2 + 4  # header, separator, one row a combination
    assert table[2].endswith("best")
    best_lr, best_dropout = (cell.strip() for cell in table[2].split("|")[:2])
    hyper = card_json(models / "fashion_mlp" / "1")["training"]["hyperparameters"]
    assert (str(hyper["lr"]), str(hyper["dropout"])) == (best_lr, best_dropout)
    assert not (models / "fashion_mlp" / "2").exists()


def test_unknown_hyperparameter_is_a_clear_error(tmp_path):
    from training.recipes import get_recipe

    with pytest.raises(ValueError, match="no hyperparameter 'lrate'"):
        get_recipe("fashion_mlp").resolve({"lrate": "1"})
