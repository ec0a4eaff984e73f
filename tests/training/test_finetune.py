"""Transfer learning: phase 1 leaves the base untouched, phase 2 changes only the top K
layers; input adapters put a different image shape in front of the base."""

import keras
import numpy as np
import pytest

from training.finetune import (
    ChannelAdapter,
    build_transfer_model,
    feature_extractor,
    load_base,
    unfreeze_top,
)
from training.models import build_lenet5


def tiny_data(shape, count=32, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, count)
    images = rng.random((count, *shape), dtype=np.float32) * 0.2
    images[..., : shape[1] // 2, :] += labels[:, None, None, None] * 0.3
    return images, labels


def weights_by_layer(model):
    return {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}


def changed(before, after):
    return {
        name
        for name in before
        if any(not np.array_equal(a, b) for a, b in zip(before[name], after[name], strict=True))
    }


def test_phase_one_freezes_the_base_and_phase_two_trains_only_the_top_k():
    keras.utils.set_random_seed(0)
    base = feature_extractor(build_lenet5((28, 28, 1), 10))
    model = build_transfer_model(base, (28, 28, 1), 3, dropout=0.0)
    images, labels = tiny_data((28, 28, 1))
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")

    start = weights_by_layer(base)
    head = [w.copy() for w in model.get_layer("logits").get_weights()]
    model.fit(images, labels, epochs=2, batch_size=8, verbose=0)
    assert changed(start, weights_by_layer(base)) == set()
    assert not np.array_equal(head[0], model.get_layer("logits").get_weights()[0])

    assert unfreeze_top(base, 2) == ["dense_120", "features"]
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    middle = weights_by_layer(base)
    model.fit(images, labels, epochs=2, batch_size=8, verbose=0)
    assert changed(middle, weights_by_layer(base)) == {"dense_120", "features"}


def test_batchnorm_stays_in_inference_mode_when_unfrozen():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    base = keras.Model(inputs, x, name="base_tiny")
    model = build_transfer_model(base, (8, 8, 1), 2, dropout=0.0)
    assert unfreeze_top(base, 3) == ["conv", "features"]  # BatchNorm stays frozen
    conv_before = base.get_layer("conv").kernel.numpy().copy()
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    moving = [w.numpy().copy() for w in base.get_layer("bn").non_trainable_weights]
    images, labels = tiny_data((8, 8, 1), classes=2)
    model.fit(images, labels, epochs=1, batch_size=8, verbose=0)
    for before, after in zip(moving, base.get_layer("bn").non_trainable_weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())  # statistics never updated
    np.testing.assert_array_equal(base.get_layer("bn").gamma.numpy(), np.ones(4, np.float32))
    assert not np.array_equal(base.get_layer("conv").kernel.numpy(), conv_before)


def test_other_sizes_and_colours_are_adapted_inside_the_model(tmp_path):
    keras.utils.set_random_seed(0)
    base = feature_extractor(build_lenet5((28, 28, 1), 10))
    model = build_transfer_model(base, (40, 40, 3), 3, dropout=0.1)
    names = [layer.name for layer in model.layers]
    assert names[1:3] == ["adapt_channels", "adapt_resize"]
    assert model.predict(np.zeros((2, 40, 40, 3), np.float32), verbose=0).shape == (2, 3)
    model.save(tmp_path / "model.keras")  # the adapter serialises
    reloaded = load_base(tmp_path)
    images = np.random.default_rng(1).random((2, 40, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(
        reloaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5
    )


def test_channel_adapter_uses_luma_and_repeats_gray():
    rgb = np.array([[[[1.0, 0.0, 0.0]]]], np.float32)
    np.testing.assert_allclose(ChannelAdapter(1)(rgb), [[[[0.299]]]], rtol=1e-5)
    np.testing.assert_allclose(ChannelAdapter(3)(np.full((1, 1, 1, 1), 0.5, np.float32)), 0.5)
    with pytest.raises(ValueError, match="1 or 3"):
        ChannelAdapter(4)


def test_unfreeze_out_of_range_is_refused():
    base = feature_extractor(build_lenet5((28, 28, 1), 10))
    with pytest.raises(ValueError, match="between 1 and"):
        unfreeze_top(base, 99)
