"""Transfer learning from an exported version, as in the Keras transfer-learning guide.

The base is the exported version's Keras model up to its ``features`` layer.
:func:`build_transfer_model` puts input adapters in front of it when the new
images differ in size or channel count, calls it with ``training=False`` (so its
BatchNorm layers stay in inference mode in both phases) and adds a new head.
Phase 1 trains the head with the base frozen; phase 2 (:func:`unfreeze_top`)
unfreezes the base's top K layers (BatchNorm excepted, kept frozen and so in
inference mode) for a fit at a ten times lower learning rate.

Adapters, inside the exported model so the service needs nothing special:
- a different size: ``Resizing`` (bilinear, stretched) to the base's input size;
- a different channel count: :class:`ChannelAdapter` - RGB(A) to gray by ITU-R
  BT.601 luma (alpha dropped), gray to RGB by repeating the channel, RGBA to RGB
  by dropping alpha.
"""

import logging
from pathlib import Path

import keras
import tensorflow as tf
from keras import layers

from training.card import ClassifierParams, TrainingFacts, card_view, read_card
from training.export import KERAS_FILE

logger = logging.getLogger(__name__)

FEATURES_LAYER = "features"
LUMA = (0.299, 0.587, 0.114)


@keras.saving.register_keras_serializable(package="kerasserve")
class ChannelAdapter(layers.Layer):
    """Map 1, 3 or 4 input channels to ``channels`` (1 or 3) the base expects."""

    def __init__(self, channels: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if channels not in (1, 3):
            raise ValueError(f"a base takes 1 or 3 channels here, not {channels}")
        self.channels = channels

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        source = inputs.shape[-1]
        if source == self.channels:
            return inputs
        if self.channels == 3:
            if source == 1:
                return keras.ops.repeat(inputs, 3, axis=-1)
            return inputs[..., :3]
        weights = keras.ops.convert_to_tensor(LUMA, dtype=inputs.dtype)
        return keras.ops.sum(inputs[..., :3] * weights, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.channels)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "channels": self.channels}


def load_base(version_dir: Path) -> keras.Model:
    """The version's Keras model: ``model.keras``, else rebuilt from its card and SavedModel.

    Versions exported before ``model.keras`` was kept are rebuilt from the card's
    architecture and hyperparameters, and every variable is copied by name from
    the SavedModel (a missing or mis-shaped variable is an error, never skipped).
    """
    native = version_dir / KERAS_FILE
    if native.is_file():
        model: keras.Model = keras.saving.load_model(native, compile=False)
        return model
    return rebuild_from_saved_model(version_dir)


def rebuild_from_saved_model(version_dir: Path) -> keras.Model:
    from training.tasks.classify import BUILDERS, build_classifier

    card = read_card(version_dir)
    architecture = card.architecture
    if card.task != "classify" or architecture is None or architecture not in BUILDERS:
        raise ValueError(
            f"{version_dir} has no {KERAS_FILE} and its card names no classifier this "
            f"package builds (architecture {architecture!r}); cannot fine-tune it"
        )
    params = card_view(ClassifierParams, card.task_params, "task_params")
    model = build_classifier(
        architecture,
        card_view(TrainingFacts, card.training, "training").hyperparameters,
        params.image_shape,
        params.num_classes,
    )
    saved = {v.name.removesuffix(":0"): v for v in tf.saved_model.load(str(version_dir)).variables}
    for variable in model.variables:
        if "seed_generator" in variable.path:  # dropout RNG state, not a weight
            continue
        source = saved.get(variable.path)
        if source is None or tuple(source.shape) != tuple(variable.shape):
            raise ValueError(f"{version_dir}: no variable {variable.path} {variable.shape}")
        variable.assign(source.numpy())
    logger.info("rebuilt %s from its SavedModel (%d variables)", architecture, len(model.variables))
    return model


def feature_extractor(model: keras.Model, layer: str = FEATURES_LAYER) -> keras.Model:
    """The model from its input up to ``layer`` (the zoo's penultimate ``features``)."""
    try:
        output = model.get_layer(layer).output
    except ValueError:
        raise ValueError(f"the base model has no layer named {layer!r}") from None
    return keras.Model(model.inputs, output, name=f"base_{model.name}")


def input_adapters(
    image_shape: tuple[int, int, int], base_shape: tuple[int, ...]
) -> list[layers.Layer]:
    """Layers mapping ``image_shape`` inputs to the base's ``(h, w, c)``; empty when equal."""
    height, width, channels = image_shape
    base_height, base_width, base_channels = (int(d) for d in base_shape)
    adapters: list[layers.Layer] = []
    if channels != base_channels:
        adapters.append(ChannelAdapter(base_channels, name="adapt_channels"))
    if (height, width) != (base_height, base_width):
        adapters.append(
            layers.Resizing(base_height, base_width, interpolation="bilinear", name="adapt_resize")
        )
    return adapters


def build_transfer_model(
    base: keras.Model, image_shape: tuple[int, int, int], num_classes: int, dropout: float
) -> keras.Model:
    """Adapters -> frozen base (inference mode) -> ``features`` -> Dropout -> new logits."""
    base.trainable = False
    inputs = keras.Input(image_shape, name="images")
    x = inputs
    for adapter in input_adapters(image_shape, base.input_shape[1:]):
        x = adapter(x)
    x = base(x, training=False)  # BatchNorm stays in inference mode even when unfrozen
    x = layers.Identity(name=FEATURES_LAYER)(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    logits = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=f"transfer_{base.name.removeprefix('base_')}")


def unfreeze_top(base: keras.Model, count: int) -> list[str]:
    """Make the base's top ``count`` layers (input layer not counted) trainable; their names.

    BatchNorm layers among them stay frozen: a frozen BatchNorm runs in inference
    mode in Keras 3, which the ``training=False`` call alone does not guarantee once
    the base is unfrozen (measured: the moving statistics drifted).
    """
    stack = [layer for layer in base.layers if not isinstance(layer, layers.InputLayer)]
    if not 0 < count <= len(stack):
        raise ValueError(f"--unfreeze must be between 1 and {len(stack)}, got {count}")
    base.trainable = True
    for index, layer in enumerate(stack):
        top = index >= len(stack) - count
        layer.trainable = top and not isinstance(layer, layers.BatchNormalization)
    return [layer.name for layer in stack if layer.trainable]
