"""Conditional DCGAN: a generator of 28x28 images for a class label, and its critic.

Follows keras-io's DCGAN (custom ``train_step``, a ``SeedGenerator``, loss
trackers as metrics), with the label embedded and fed to both networks.
"""

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops


def build_generator(
    latent_dim: int = 64, num_classes: int = 10, base_filters: int = 64
) -> keras.Model:
    """(noise ``[N, latent_dim]``, label ``[N]``) -> image ``[N, 28, 28, 1]`` in [-1, 1]."""
    noise = keras.Input(shape=(latent_dim,), name="noise")
    label = keras.Input(shape=(), dtype="int32", name="labels")
    embedded = layers.Embedding(num_classes, 32, name="label_embedding")(label)
    x = layers.Concatenate(name="condition")([noise, embedded])
    x = layers.Dense(7 * 7 * base_filters * 2, use_bias=False, name="project")(x)
    x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.LeakyReLU(0.2, name="project_act")(x)
    x = layers.Reshape((7, 7, base_filters * 2), name="to_grid")(x)
    for index, filters in enumerate((base_filters, base_filters // 2), start=1):
        x = layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", use_bias=False, name=f"up_{index}"
        )(x)
        x = layers.BatchNormalization(name=f"up_{index}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"up_{index}_act")(x)
    image = layers.Conv2D(1, 5, padding="same", activation="tanh", dtype="float32", name="image")(x)
    return keras.Model([noise, label], image, name="generator")


def _normalized(layer: layers.Layer, spectral_norm: bool) -> layers.Layer:
    # Spectral normalisation bounds each layer's Lipschitz constant, so the critic cannot
    # grow sharp enough to starve the generator of gradient (Miyato et al., 2018).
    return layers.SpectralNormalization(layer, name=f"{layer.name}_sn") if spectral_norm else layer


def build_discriminator(
    num_classes: int = 10,
    base_filters: int = 64,
    spectral_norm: bool = False,
    projection: bool = False,
) -> keras.Model:
    """(image ``[N, 28, 28, 1]`` in [-1, 1], label ``[N]``) -> real/fake logit ``[N, 1]``.

    The label is always an extra input plane. With ``projection`` the logit also
    gets the inner product of the features with a learned class embedding
    (Miyato and Koyama, 2018), which ties the judgement to the asked-for class.
    """
    image = keras.Input(shape=(28, 28, 1), name="images")
    label = keras.Input(shape=(), dtype="int32", name="labels")
    label_map = layers.Embedding(num_classes, 28 * 28, name="label_embedding")(label)
    label_map = layers.Reshape((28, 28, 1), name="label_map")(label_map)
    x = layers.Concatenate(name="condition")([image, label_map])
    for index, filters in enumerate((base_filters, base_filters * 2), start=1):
        conv = layers.Conv2D(filters, 4, strides=2, padding="same", name=f"down_{index}")
        x = _normalized(conv, spectral_norm)(x)
        x = layers.LeakyReLU(0.2, name=f"down_{index}_act")(x)
        x = layers.Dropout(0.3, name=f"down_{index}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    logit = _normalized(layers.Dense(1, dtype="float32", name="logit"), spectral_norm)(x)
    if projection:
        class_vector = layers.Embedding(num_classes, x.shape[-1], name="class_projection")(label)
        match = layers.Dot(axes=1, dtype="float32", name="class_match")([x, class_vector])
        logit = layers.Add(dtype="float32", name="projected_logit")([logit, match])
    return keras.Model([image, label], logit, name="discriminator")


def build_class_critic(num_classes: int = 10, base_filters: int = 32) -> keras.Model:
    """Image ``[N, 28, 28, 1]`` in [-1, 1] -> class logits ``[N, num_classes]``.

    The auxiliary classifier of an AC-GAN (Odena et al., 2017), kept apart from the
    critic because the critic sees the label as an input plane and could read it off.
    It learns from real images only, so the generator is pushed toward what real digits
    of the class look like, not toward what fools a classifier trained on its fakes.
    """
    image = keras.Input(shape=(28, 28, 1), name="images")
    x = image
    for index, filters in enumerate((base_filters, base_filters * 2), start=1):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", name=f"class_down_{index}")(x)
        x = layers.LeakyReLU(0.2, name=f"class_down_{index}_act")(x)
    x = layers.Flatten(name="class_flatten")(x)
    x = layers.Dropout(0.3, name="class_dropout")(x)
    logits = layers.Dense(num_classes, dtype="float32", name="class_logits")(x)
    return keras.Model(image, logits, name="class_critic")


class ConditionalGAN(keras.Model):
    """Trains ``generator`` against ``discriminator`` on (image, label) batches."""

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int,
        seed: int = 1337,
        label_smoothing: float = 0.1,
        ema_decay: float = 0.0,
        class_critic: keras.Model | None = None,
        class_weight: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        if (class_critic is None) != (class_weight == 0.0) or class_weight < 0.0:
            raise ValueError(
                "a class critic needs a positive class_weight and a class_weight needs a "
                f"class critic; got class_weight={class_weight}"
            )
        self.generator = generator
        self.num_classes = int(generator.get_layer("label_embedding").input_dim)
        self.ema_decay = ema_decay
        # A running average of the generator's weights (Yazici et al., 2019): the
        # adversarial game makes the generator oscillate around an equilibrium, and the
        # average sits nearer it than any single step does.
        self.averaged_generator = _copy(generator) if ema_decay else None
        self.discriminator = discriminator
        self.class_critic = class_critic
        self.class_weight = class_weight
        self.latent_dim = latent_dim
        self.label_smoothing = label_smoothing
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.c_loss_tracker = keras.metrics.Mean(name="c_loss")

    def compile(
        self,
        d_optimizer: keras.Optimizer,
        g_optimizer: keras.Optimizer,
        c_optimizer: keras.Optimizer | None = None,
        **kwargs: Any,
    ) -> None:
        super().compile(**kwargs)
        if (c_optimizer is None) != (self.class_critic is None):
            raise ValueError("give c_optimizer exactly when the GAN has a class critic")
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.c_optimizer = c_optimizer
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        self.class_loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        trackers = [self.d_loss_tracker, self.g_loss_tracker]
        return trackers if self.class_critic is None else [*trackers, self.c_loss_tracker]

    @property
    def sampler(self) -> keras.Model:
        """The generator to sample from: the running average when there is one."""
        return self.generator if self.averaged_generator is None else self.averaged_generator

    def _noise(self, batch_size: Any) -> Any:
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def train_step(self, data: Any) -> dict[str, Any]:
        real_images, labels = data
        labels = ops.cast(labels, "int32")
        batch_size = ops.shape(real_images)[0]
        fake_images = self.generator([self._noise(batch_size), labels], training=True)
        real_target = ops.ones((batch_size, 1)) * (1.0 - self.label_smoothing)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator([real_images, labels], training=True)
            fake_logits = self.discriminator([fake_images, labels], training=True)
            d_loss = self.loss_fn(real_target, real_logits) + self.loss_fn(
                ops.zeros((batch_size, 1)), fake_logits
            )
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        if self.class_critic is not None:
            self.c_loss_tracker.update_state(self._train_class_critic(real_images, labels))

        with tf.GradientTape() as tape:
            generated = self.generator([self._noise(batch_size), labels], training=True)
            g_loss = self.loss_fn(
                ops.ones((batch_size, 1)), self.discriminator([generated, labels], training=True)
            )
            if self.class_critic is not None:
                recognised = self.class_critic(generated, training=False)
                g_loss += self.class_weight * self.class_loss_fn(labels, recognised)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        if self.averaged_generator is not None:
            self._update_average(self.averaged_generator)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def _train_class_critic(self, real_images: Any, labels: Any) -> Any:
        assert self.class_critic is not None and self.c_optimizer is not None
        with tf.GradientTape() as tape:
            c_loss = self.class_loss_fn(labels, self.class_critic(real_images, training=True))
        weights = self.class_critic.trainable_weights
        self.c_optimizer.apply_gradients(zip(tape.gradient(c_loss, weights), weights))
        return c_loss

    def _update_average(self, averaged: keras.Model) -> None:
        # The decay ramps up over the first steps (as tf.train.ExponentialMovingAverage's
        # num_updates does), so the random initial weights do not linger in the average.
        steps = ops.cast(self.g_optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + steps) / (10.0 + steps))
        for average, current in zip(averaged.weights, self.generator.weights, strict=True):
            average.assign(decay * average + (1.0 - decay) * ops.cast(current, average.dtype))

    def calibrated_sampler(self, samples: int = 2048, seed: int = 0) -> keras.Model:
        """``sampler``, with the averaged generator's batch-norm statistics measured anew.

        Averaged weights need their own statistics: the average of the moving means and
        variances the training generators saw is not what the averaged layers produce.
        """
        if self.averaged_generator is not None:
            rng = np.random.default_rng(seed)
            noise = rng.standard_normal((samples, self.latent_dim)).astype(np.float32)
            labels = np.arange(samples, dtype=np.int32) % self.num_classes
            recalibrate_batch_norm(self.averaged_generator, [noise, labels])
        return self.sampler


def recalibrate_batch_norm(model: keras.Model, inputs: list[Any]) -> None:
    """Set each batch-norm layer's moving statistics to those of its input on ``inputs``,
    layer by layer in order, so each one sees the layers before it already recalibrated."""
    for layer in model.layers:
        if not isinstance(layer, layers.BatchNormalization):
            continue
        features = keras.Model(model.inputs, layer.input)(inputs, training=False)
        axes = tuple(range(len(features.shape) - 1))
        layer.moving_mean.assign(ops.mean(features, axis=axes))
        layer.moving_variance.assign(ops.var(features, axis=axes))


def _copy(model: keras.Model) -> keras.Model:
    """A model of the same architecture holding the same weights."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for mine, theirs in zip(copy.weights, model.weights, strict=True):
        if mine.shape != theirs.shape:
            raise ValueError(f"clone's weight {mine.path} does not pair with {theirs.path}")
    return copy
