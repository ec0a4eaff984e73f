"""Label smoothing for integer labels, which Keras' sparse cross-entropy lacks."""

import keras
import numpy as np
import pytest

from training.losses import SparseCrossentropyWithSmoothing, classification_loss


def test_label_smoothing_loss_matches_keras_on_one_hot_labels():
    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], np.float32)
    labels = np.array([0, 2])
    smoothed = SparseCrossentropyWithSmoothing(0.1)(labels, logits)
    expected = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(
        np.eye(3, dtype=np.float32)[labels], logits
    )
    assert float(smoothed) == pytest.approx(float(expected), rel=1e-5)
    plain = classification_loss(0.0)
    assert isinstance(plain, keras.losses.SparseCategoricalCrossentropy)
    with pytest.raises(ValueError):
        SparseCrossentropyWithSmoothing(1.0)


def test_the_smoothed_loss_survives_a_keras_save_and_load(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(loss=classification_loss(0.2))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.loss, SparseCrossentropyWithSmoothing)
    assert loaded.loss.label_smoothing == pytest.approx(0.2)
