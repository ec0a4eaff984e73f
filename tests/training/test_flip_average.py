"""Flip-averaged classifier exports: the SavedModel answers the mean of both views."""

import keras
import numpy as np
import tensorflow as tf

from training.export import (
    KERAS_FILE,
    classifier_serving_model,
    export_saved_model,
    image_input_spec,
)
from training.models import build_mlp


def test_exported_flip_average_is_the_mean_of_the_image_and_its_mirror(tmp_path):
    keras.utils.set_random_seed(3)
    model = build_mlp((6, 5, 1), num_classes=4)
    images = np.random.default_rng(0).random((3, 6, 5, 1)).astype(np.float32)
    logits = model.predict(images, verbose=0)
    mirrored = model.predict(images[:, :, ::-1, :], verbose=0)
    assert not np.allclose(logits, mirrored)  # the check below could not pass by symmetry

    serving = classifier_serving_model(model, flip_average=True)
    export_saved_model(serving, tmp_path, [image_input_spec((6, 5, 1))], native=model)
    answer = tf.saved_model.load(str(tmp_path)).signatures["serving_default"](
        images=tf.constant(images)
    )
    expected = (logits + mirrored) / 2
    np.testing.assert_allclose(answer["logits"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(
        answer["probabilities"].numpy(), tf.nn.softmax(expected).numpy(), atol=1e-5
    )
    assert answer["features"].shape == (3, model.get_layer("features").output.shape[-1])
    native = keras.saving.load_model(tmp_path / KERAS_FILE, compile=False)
    assert native.get_layer("features") is not None  # fine-tuning finds the plain network


def test_plain_export_has_no_mirror():
    model = build_mlp((6, 5, 1), num_classes=4)
    serving = classifier_serving_model(model)
    assert "mirror" not in [layer.name for layer in serving.layers]
