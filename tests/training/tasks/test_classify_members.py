"""Classifier ensembles: the joined model answers the mean of its members' logits."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from training.export import (
    KERAS_FILE,
    classifier_serving_model,
    export_saved_model,
    image_input_spec,
)
from training.models import build_mlp, build_vgg
from training.tasks.classify_members import (
    ensemble_classifier,
    mean_history,
    member_seed,
    threads_per_member,
)

SHAPE = (8, 8, 1)


def members(builder, count: int) -> list[keras.Model]:
    built = []
    for seed in range(count):
        keras.utils.set_random_seed(seed)
        built.append(builder(SHAPE, num_classes=4))
    return built


@pytest.mark.parametrize("builder", [build_mlp, build_vgg])
def test_ensemble_logits_are_the_members_mean(builder):
    networks = members(builder, 3)
    images = np.random.default_rng(0).random((5, *SHAPE)).astype(np.float32)
    answers = [network.predict(images, verbose=0) for network in networks]
    assert not np.allclose(answers[0], answers[1])  # a mean of equals would prove nothing

    ensemble = ensemble_classifier(networks)
    np.testing.assert_allclose(
        ensemble.predict(images, verbose=0), np.mean(answers, axis=0), atol=1e-5
    )
    joined = sum(network.get_layer("features").output.shape[-1] for network in networks)
    assert ensemble.get_layer("features").output.shape[-1] == joined


def test_exported_flip_averaged_ensemble_reloads(tmp_path):
    networks = members(build_mlp, 2)
    ensemble = ensemble_classifier(networks)
    serving = classifier_serving_model(ensemble, flip_average=True)
    export_saved_model(serving, tmp_path, [image_input_spec(SHAPE)], native=ensemble)

    images = np.random.default_rng(1).random((3, *SHAPE)).astype(np.float32)
    views = [images, images[:, :, ::-1, :]]
    expected = np.mean([n.predict(v, verbose=0) for n in networks for v in views], axis=0)
    answer = tf.saved_model.load(str(tmp_path)).signatures["serving_default"](
        images=tf.constant(images)
    )
    np.testing.assert_allclose(answer["logits"].numpy(), expected, atol=1e-5)
    native = keras.saving.load_model(tmp_path / KERAS_FILE, compile=False)
    np.testing.assert_allclose(
        native.predict(images, verbose=0), ensemble.predict(images, verbose=0), atol=1e-6
    )


def test_cores_are_shared_out_with_at_least_one_each():
    assert threads_per_member(2, cores=2) == 1
    assert threads_per_member(2, cores=8) == 4
    assert threads_per_member(3, cores=2) == 1


def test_first_member_keeps_the_run_seed_and_the_others_differ():
    assert member_seed(1234, 0) == 1234
    assert len({member_seed(1234, index) for index in range(4)}) == 4


def test_mean_history_covers_the_epochs_every_member_ran():
    first = {"loss": [4.0, 2.0, 1.0], "val_loss": [5.0, 3.0, 2.0]}
    second = {"loss": [2.0, 1.0], "val_loss": [3.0, 2.0]}
    assert mean_history([first, second]) == {"loss": [3.0, 1.5], "val_loss": [4.0, 2.5]}
