import keras
import numpy as np
import pytest

from training.optimizers import adam, optimizer_name


def _decay_one_step(optimizer: keras.optimizers.Optimizer) -> tuple[np.ndarray, keras.layers.Dense]:
    """One step with zero gradients: only weight decay can move a weight."""
    layer = keras.layers.Dense(3, bias_initializer="ones", name="dense")
    layer.build((None, 4))
    kernel_before = layer.kernel.numpy().copy()
    zeros = [np.zeros(v.shape, "float32") for v in layer.trainable_variables]
    optimizer.apply_gradients(zip(zeros, layer.trainable_variables, strict=True))
    return kernel_before, layer


def test_plain_adam_has_no_decay():
    kernel_before, layer = _decay_one_step(adam(0.1))
    assert type(adam(0.1)) is keras.optimizers.Adam
    np.testing.assert_allclose(layer.kernel.numpy(), kernel_before)
    np.testing.assert_allclose(layer.bias.numpy(), 1.0)


def test_weight_decay_shrinks_kernels_but_not_biases():
    kernel_before, layer = _decay_one_step(adam(0.1, weight_decay=0.5))
    np.testing.assert_allclose(layer.kernel.numpy(), kernel_before * (1 - 0.1 * 0.5), rtol=1e-5)
    np.testing.assert_allclose(layer.bias.numpy(), 1.0)


def test_negative_weight_decay_is_refused():
    with pytest.raises(ValueError, match="weight_decay"):
        adam(1e-3, weight_decay=-0.1)


def test_card_names_the_optimizer():
    assert optimizer_name(0.0) == "adam"
    assert optimizer_name(0.3) == "adamw (weight decay 0.3)"
