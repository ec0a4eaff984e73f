"""Parameter counts and output shapes of every builder."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from training.models import (
    ConditionalGAN,
    build_alexnet,
    build_class_critic,
    build_discriminator,
    build_generator,
    build_inception,
    build_lenet5,
    build_lstm_forecaster,
    build_mlp,
    build_vgg,
)
from training.models.cgan import recalibrate_batch_norm


def test_mlp_has_exactly_the_course_parameter_count():
    model = build_mlp()
    assert model.count_params() == 242_762
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [256, 128, 64, 10]


@pytest.mark.parametrize(
    ("builder", "params"),
    [
        (build_mlp, 242_762),
        (build_lenet5, 61_706),
        (build_vgg, None),
        (build_alexnet, 2_515_498),
        (build_inception, 190_090),
    ],
)
def test_classifiers_map_images_to_ten_logits(builder, params):
    model = builder()
    logits = model(np.zeros((3, 28, 28, 1), np.float32))
    assert logits.shape == (3, 10)
    assert model.get_layer("features") is not None
    if params is not None:
        assert model.count_params() == params


def test_lenet5_has_two_5x5_stages_and_a_120_84_head():
    model = build_lenet5()
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.kernel_size for c in convs] == [(5, 5), (5, 5)]
    dense = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [120, 84, 10]


def test_vgg_doubles_channels_per_block_with_batchnorm_and_dropout():
    model = build_vgg(base_filters=16, blocks=3, dropout=0.5)
    filters = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert filters == [16, 16, 32, 32, 64, 64]
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"BatchNormalization", "Dropout", "MaxPooling2D"} <= kinds
    with pytest.raises(ValueError, match="dropout"):
        build_vgg(dropout=1.0)


def test_alexnet_keeps_the_paper_shape_at_28x28():
    model = build_alexnet()
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.kernel_size for c in convs] == [(5, 5), (5, 5), (3, 3), (3, 3), (3, 3)]
    assert [c.strides for c in convs] == [(2, 2)] + [(1, 1)] * 4
    assert [c.filters for c in convs] == [48, 128, 192, 192, 128]
    assert all(c.activation is keras.activations.relu for c in convs)
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert [(p.pool_size, p.strides) for p in pools] == [((3, 3), (2, 2))] * 3  # overlapping
    assert model.get_layer("pool_5").output.shape == (None, 2, 2, 128)
    # BatchNorm where the paper had local response normalisation: after conv 1 and 2.
    norms = [
        layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms == ["norm_1", "norm_2"]
    dense = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [1024, 1024, 10]
    drops = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert drops == [0.5, 0.5]
    with pytest.raises(ValueError, match="five"):
        build_alexnet(filters=(8, 8, 8))


def test_inception_modules_concatenate_four_branches():
    model = build_inception()
    concats = [layer for layer in model.layers if isinstance(layer, keras.layers.Concatenate)]
    assert [c.name for c in concats] == [f"inception_{i}_concat" for i in (1, 2, 3)]
    assert [c.output.shape for c in concats] == [
        (None, 14, 14, 104),
        (None, 7, 7, 160),
        (None, 7, 7, 216),
    ]
    kernels = {
        name: model.get_layer(f"inception_1_{name}").kernel_size
        for name in ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")
    }
    assert kernels == {
        "1x1": (1, 1),
        "3x3_reduce": (1, 1),
        "3x3": (3, 3),
        "5x5_reduce": (1, 1),
        "5x5": (5, 5),
        "pool_proj": (1, 1),
    }
    assert model.get_layer("inception_1_pool").strides == (1, 1)
    assert model.get_layer("pool_1").output.shape == (None, 7, 7, 104)
    assert isinstance(model.get_layer("global_pool"), keras.layers.GlobalAveragePooling2D)
    assert model.get_layer("features").output.shape == (None, 128)
    with pytest.raises(ValueError, match="module"):
        build_inception(modules=())


@pytest.mark.parametrize("builder", [build_alexnet, build_inception, build_vgg])
def test_new_builders_take_colour_images_and_many_classes(builder):
    model = builder((32, 32, 3), 100)
    assert model(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 100)
    assert model.get_layer("features") is not None


def test_forecaster_follows_a_trend_outside_its_training_range():
    """Per-window normalisation: a shifted window gives a forecast shifted by as much."""
    model = build_lstm_forecaster(window=12, horizon=4, scale=2.0, units=8)
    window = np.linspace(300, 311, 12, dtype=np.float32)[np.newaxis]
    low, high = model(window).numpy(), model(window + 100).numpy()
    assert low.shape == (1, 4)
    np.testing.assert_allclose(high - low, 100.0, atol=1e-3)


def test_forecaster_rejects_degenerate_shapes():
    with pytest.raises(ValueError):
        build_lstm_forecaster(window=1, horizon=1)


def test_generator_and_discriminator_shapes():
    generator = build_generator(latent_dim=16, base_filters=8)
    images = generator([np.zeros((2, 16), np.float32), np.array([3, 7], np.int32)])
    assert images.shape == (2, 28, 28, 1)
    assert float(np.abs(images).max()) <= 1.0
    critic = build_discriminator(base_filters=8)
    assert critic([images.numpy(), np.array([3, 7], np.int32)]).shape == (2, 1)


def test_conditional_gan_train_step_updates_both_networks():
    generator = build_generator(latent_dim=8, base_filters=8)
    critic = build_discriminator(base_filters=8)
    gan = ConditionalGAN(generator, critic, latent_dim=8, seed=1)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    before_g = [w.numpy().copy() for w in generator.trainable_weights]
    before_d = [w.numpy().copy() for w in critic.trainable_weights]
    images = np.random.default_rng(0).uniform(-1, 1, (16, 28, 28, 1)).astype(np.float32)
    labels = np.arange(16, dtype=np.int32) % 10
    history = gan.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert weights_changed(before_g, generator.trainable_weights)
    assert weights_changed(before_d, critic.trainable_weights)


def weights_changed(before, variables):
    pairs = zip(before, variables, strict=True)
    return any(not np.allclose(old, new.numpy()) for old, new in pairs)


def critic_parameters(filters, spectral_norm, projection):
    """Weights of the critic counted by hand: label plane, two 4x4 convs, the logit."""
    flat = 7 * 7 * filters * 2
    count = 10 * 28 * 28 + (2 * 16 * filters + filters)
    count += filters * 16 * filters * 2 + filters * 2 + flat + 1
    if spectral_norm:  # one power-iteration vector per wrapped layer, not trained
        count += filters + filters * 2 + 1
    if projection:
        count += 10 * flat
    return count


@pytest.mark.parametrize(("spectral_norm", "projection"), [(False, False), (True, True)])
def test_critic_parameter_counts(spectral_norm, projection):
    critic = build_discriminator(base_filters=8, spectral_norm=spectral_norm, projection=projection)
    assert critic.count_params() == critic_parameters(8, spectral_norm, projection)
    assert build_discriminator().count_params() == 147_425  # mnist_cgan/1's critic


def test_spectral_norm_wraps_every_critic_layer_and_brings_its_norm_to_one():
    critic = build_discriminator(base_filters=8, spectral_norm=True)
    wrapped = [
        layer for layer in critic.layers if isinstance(layer, keras.layers.SpectralNormalization)
    ]
    assert [layer.name for layer in wrapped] == ["down_1_sn", "down_2_sn", "logit_sn"]
    images = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype(np.float32)
    labels = np.array([0, 1, 2, 3], np.int32)
    for _ in range(30):  # one power iteration per training call
        critic([images, labels], training=True)
    for layer in wrapped:
        kernel = layer.layer.kernel.numpy()
        largest = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert largest == pytest.approx(1.0, abs=0.02), layer.name


def test_projection_adds_the_match_of_features_and_class_embedding():
    critic = build_discriminator(base_filters=8, projection=True)
    assert critic.get_layer("class_projection").output.shape == (None, 7 * 7 * 16)
    parts = keras.Model(
        critic.inputs, [critic.get_layer("flatten").output, critic.get_layer("logit").output]
    )
    images = np.random.default_rng(1).uniform(-1, 1, (3, 28, 28, 1)).astype(np.float32)
    labels = np.array([2, 5, 9], np.int32)
    embedding = np.random.default_rng(2).normal(0, 0.1, (10, 7 * 7 * 16)).astype(np.float32)
    critic.get_layer("class_projection").set_weights([embedding])
    features, plain = (part.numpy() for part in parts([images, labels]))
    expected = plain[:, 0] + (features * embedding[labels]).sum(axis=1)
    np.testing.assert_allclose(
        critic([images, labels]).numpy()[:, 0], expected, rtol=1e-4, atol=1e-4
    )


def test_spectrally_normalised_projection_critic_trains_in_the_gan():
    critic = build_discriminator(base_filters=8, spectral_norm=True, projection=True)
    generator = build_generator(latent_dim=8, base_filters=8)
    gan = ConditionalGAN(generator, critic, latent_dim=8, seed=1, label_smoothing=0.1)
    gan.compile(d_optimizer=keras.optimizers.Adam(4e-4), g_optimizer=keras.optimizers.Adam(1e-4))
    images = np.random.default_rng(0).uniform(-1, 1, (16, 28, 28, 1)).astype(np.float32)
    before_projection = critic.get_layer("class_projection").get_weights()[0].copy()
    before_g = [w.numpy().copy() for w in generator.trainable_weights]
    gan.fit(images, np.arange(16, dtype=np.int32) % 10, batch_size=8, epochs=1, verbose=0)
    assert not np.allclose(before_projection, critic.get_layer("class_projection").get_weights()[0])
    assert weights_changed(before_g, generator.trainable_weights)
    assert gan.d_optimizer.iterations.numpy() == gan.g_optimizer.iterations.numpy() == 2


def test_the_averaged_generator_follows_each_step_by_the_decay():
    generator = build_generator(latent_dim=8, base_filters=8)
    gan = ConditionalGAN(
        generator, build_discriminator(base_filters=8), latent_dim=8, ema_decay=0.9
    )
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2))
    sampler = gan.averaged_generator
    assert sampler is not None and gan.sampler is sampler and sampler is not generator
    start = [w.copy() for w in generator.get_weights()]
    np.testing.assert_array_equal(sampler.get_weights()[0], start[0])
    images = np.random.default_rng(0).uniform(-1, 1, (8, 28, 28, 1)).astype(np.float32)
    gan.fit(images, np.arange(8, dtype=np.int32), batch_size=8, epochs=1, verbose=0)
    stepped = generator.get_weights()
    assert not np.allclose(stepped[0], start[0])
    decay = min(0.9, (1 + 1) / (10 + 1))  # ramped up: after one step, mostly the new weights
    for average, first, after in zip(sampler.get_weights(), start, stepped, strict=True):
        np.testing.assert_allclose(
            average, decay * first + (1 - decay) * after, rtol=1e-5, atol=1e-6
        )


def test_without_a_decay_the_generator_is_sampled_itself():
    generator = build_generator(latent_dim=8, base_filters=8)
    gan = ConditionalGAN(generator, build_discriminator(base_filters=8), latent_dim=8)
    assert gan.sampler is generator and gan.averaged_generator is None
    with pytest.raises(ValueError, match="ema_decay"):
        ConditionalGAN(generator, build_discriminator(base_filters=8), latent_dim=8, ema_decay=1.0)


def test_recalibrated_batch_norm_holds_the_statistics_of_its_own_inputs():
    generator = build_generator(latent_dim=8, base_filters=8)
    noise = np.random.default_rng(0).standard_normal((256, 8)).astype(np.float32)
    labels = np.arange(256, dtype=np.int32) % 10
    recalibrate_batch_norm(generator, [noise, labels])
    for name in ("project_bn", "up_1_bn", "up_2_bn"):
        layer = generator.get_layer(name)
        features = keras.Model(generator.inputs, layer.input)([noise, labels]).numpy()
        axes = tuple(range(features.ndim - 1))
        np.testing.assert_allclose(layer.moving_mean.numpy(), features.mean(axis=axes), atol=1e-5)
        np.testing.assert_allclose(
            layer.moving_variance.numpy(), features.var(axis=axes), rtol=1e-3, atol=1e-6
        )
        # So in inference mode the layer's output is standardised, as in training.
        normalised = keras.Model(generator.inputs, layer.output)([noise, labels]).numpy()
        np.testing.assert_allclose(normalised.mean(axis=axes), layer.beta.numpy(), atol=1e-3)


def test_the_calibrated_sampler_is_the_average_with_fresh_statistics():
    generator = build_generator(latent_dim=8, base_filters=8)
    gan = ConditionalGAN(
        generator, build_discriminator(base_filters=8), latent_dim=8, ema_decay=0.9
    )
    averaged = gan.averaged_generator
    assert averaged is not None
    before = averaged.get_layer("project_bn").moving_variance.numpy().copy()
    assert gan.calibrated_sampler(samples=64) is averaged
    assert not np.allclose(before, averaged.get_layer("project_bn").moving_variance.numpy())
    plain = ConditionalGAN(generator, build_discriminator(base_filters=8), latent_dim=8)
    untouched = generator.get_layer("project_bn").moving_variance.numpy().copy()
    assert plain.calibrated_sampler(samples=64) is generator
    np.testing.assert_array_equal(untouched, generator.get_layer("project_bn").moving_variance)


def test_the_class_critic_learns_from_real_images_and_pulls_the_generator_to_the_class():
    generator = build_generator(latent_dim=8, base_filters=8)
    class_critic = build_class_critic(base_filters=8)
    assert [tensor.name for tensor in class_critic.inputs] == ["images"]  # never the label
    gan = ConditionalGAN(
        generator,
        build_discriminator(base_filters=8),
        latent_dim=8,
        seed=1,
        class_critic=class_critic,
        class_weight=0.5,
    )
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-3),
        g_optimizer=keras.optimizers.Adam(1e-3),
        c_optimizer=keras.optimizers.Adam(1e-3),
    )
    rng = np.random.default_rng(0)
    labels = np.arange(64, dtype=np.int32) % 10
    # Each class is a bright band at its own rows: learnable in a few steps.
    images = np.full((64, 28, 28, 1), -1.0, np.float32)
    for row, label in enumerate(labels):
        images[row, 2 * label + 4 : 2 * label + 7] = 1.0
    images += rng.normal(0, 0.05, images.shape).astype(np.float32)
    before = [w.numpy().copy() for w in generator.trainable_weights]
    history = gan.fit(images, labels, batch_size=16, epochs=8, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "c_loss"}
    assert history.history["c_loss"][-1] < 0.5 * history.history["c_loss"][0]
    assert (class_critic.predict(images, verbose=0).argmax(axis=1) == labels).mean() > 0.9
    assert weights_changed(before, generator.trainable_weights)
    assert gan.c_optimizer is not None and gan.c_optimizer.iterations.numpy() == 8 * 4


def test_the_class_critic_loss_term_reaches_the_generator_gradient():
    generator = build_generator(latent_dim=8, base_filters=8)
    class_critic = build_class_critic(base_filters=8)
    noise = np.random.default_rng(2).standard_normal((8, 8)).astype(np.float32)
    labels = np.arange(8, dtype=np.int32)
    with tf.GradientTape() as tape:
        logits = class_critic(generator([noise, labels], training=True), training=False)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    grads = tape.gradient(loss, generator.trainable_weights)
    assert all(grad is not None for grad in grads)
    assert any(float(tf.reduce_max(tf.abs(grad))) > 0 for grad in grads)


@pytest.mark.parametrize(("with_critic", "weight"), [(True, 0.0), (False, 0.5), (True, -1.0)])
def test_a_class_critic_and_its_weight_come_together(with_critic, weight):
    critic = build_class_critic(base_filters=8) if with_critic else None
    with pytest.raises(ValueError, match="class_weight"):
        ConditionalGAN(
            build_generator(latent_dim=8, base_filters=8),
            build_discriminator(base_filters=8),
            latent_dim=8,
            class_critic=critic,
            class_weight=weight,
        )


def test_a_class_critic_needs_its_optimizer():
    gan = ConditionalGAN(
        build_generator(latent_dim=8, base_filters=8),
        build_discriminator(base_filters=8),
        latent_dim=8,
        class_critic=build_class_critic(base_filters=8),
        class_weight=0.5,
    )
    with pytest.raises(ValueError, match="c_optimizer"):
        gan.compile(
            d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3)
        )
