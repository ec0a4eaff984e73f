"""Image classifiers for 28x28 grayscale input; each returns logits.

Every classifier names its penultimate layer ``features`` so export can offer
the embedding the Fréchet distance is computed on.
"""

from collections.abc import Sequence

import keras
from keras import layers

IMAGE_SHAPE = (28, 28, 1)


def _logits_head(features: keras.KerasTensor, num_classes: int) -> keras.KerasTensor:
    # float32 logits keep softmax and the loss stable under mixed precision.
    return layers.Dense(num_classes, dtype="float32", name="logits")(features)


def build_mlp(
    input_shape: tuple[int, ...] = IMAGE_SHAPE,
    num_classes: int = 10,
    hidden_units: Sequence[int] = (256, 128, 64),
    dropout: float = 0.0,
) -> keras.Model:
    """Fully connected 784 -> 256 -> 128 -> 64 -> 10 classifier (242,762 parameters)."""
    inputs = keras.Input(shape=input_shape, name="images")
    x = layers.Flatten(name="flatten")(inputs)
    for index, units in enumerate(hidden_units, start=1):
        name = "features" if index == len(hidden_units) else f"dense_{index}"
        x = layers.Dense(units, activation="relu", name=name)(x)
        if dropout > 0:
            x = layers.Dropout(dropout, name=f"dropout_{index}")(x)
    return keras.Model(inputs, _logits_head(x, num_classes), name="mlp")


def build_lenet5(
    input_shape: tuple[int, ...] = IMAGE_SHAPE,
    num_classes: int = 10,
    dropout: float = 0.0,
) -> keras.Model:
    """LeNet-5: two 5x5 convolution + pooling stages and a 120-84 head.

    The first convolution pads to keep 28x28, as LeCun's 32x32 input did.
    """
    inputs = keras.Input(shape=input_shape, name="images")
    x = layers.Conv2D(6, 5, padding="same", activation="relu", name="conv_1")(inputs)
    x = layers.MaxPooling2D(2, name="pool_1")(x)
    x = layers.Conv2D(16, 5, activation="relu", name="conv_2")(x)
    x = layers.MaxPooling2D(2, name="pool_2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation="relu", name="dense_120")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(84, activation="relu", name="features")(x)
    return keras.Model(inputs, _logits_head(x, num_classes), name="lenet5")


def _vgg_block(x: keras.KerasTensor, filters: int, convs: int, index: int) -> keras.KerasTensor:
    for conv in range(1, convs + 1):
        name = f"block{index}_conv{conv}"
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = layers.ReLU(name=f"{name}_relu")(x)
    return layers.MaxPooling2D(2, name=f"block{index}_pool")(x)


def build_vgg(
    input_shape: tuple[int, ...] = IMAGE_SHAPE,
    num_classes: int = 10,
    base_filters: int = 32,
    blocks: int = 3,
    convs_per_block: int = 2,
    dense_units: int = 256,
    dropout: float = 0.4,
) -> keras.Model:
    """Small VGG-style net: stacked 3x3 conv + BatchNorm + ReLU, channels doubling per block."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for index in range(blocks):
        x = _vgg_block(x, base_filters * 2**index, convs_per_block, index + 1)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="head_dropout_1")(x)
    x = layers.Dense(dense_units, use_bias=False, name="head_dense")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.ReLU(name="features")(x)
    x = layers.Dropout(dropout, name="head_dropout_2")(x)
    return keras.Model(inputs, _logits_head(x, num_classes), name="vgg")
