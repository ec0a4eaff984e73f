"""Image classifiers (28x28 grayscale by default, any ``input_shape``); each returns logits.

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


def _alexnet_conv(
    x: keras.KerasTensor,
    filters: int,
    kernel: int,
    index: int,
    strides: int = 1,
    normalize: bool = False,
) -> keras.KerasTensor:
    x = layers.Conv2D(
        filters, kernel, strides=strides, padding="same", activation="relu", name=f"conv_{index}"
    )(x)
    if normalize:
        # BatchNorm stands where AlexNet had local response normalisation (after the ReLU).
        x = layers.BatchNormalization(name=f"norm_{index}")(x)
    return x


def build_alexnet(
    input_shape: tuple[int, ...] = IMAGE_SHAPE,
    num_classes: int = 10,
    dropout: float = 0.5,
    filters: Sequence[int] = (48, 128, 192, 192, 128),
    dense_units: int = 1024,
) -> keras.Model:
    """AlexNet (Krizhevsky, Sutskever and Hinton, 2012) scaled to small images.

    The paper's shape at a 28x28 scale: five ReLU convolutions, the first with a
    large kernel (5x5) and stride 2, overlapping 3x3 stride-2 max-pooling after
    conv 1, 2 and 5, and two wide fully connected layers (``dense_units`` instead
    of 4,096), each fed through Dropout. BatchNorm replaces the paper's local
    response normalisation, at the same places (after the ReLU of conv 1 and 2).
    The widths default to half the paper's (96-256-384-384-256), and on 28x28x1
    input the maps go 14 -> 7 -> 4 -> 2. The second wide layer is ``features``.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if len(filters) != 5:
        raise ValueError(f"AlexNet has five convolutions, got filters={list(filters)}")
    inputs = keras.Input(shape=input_shape, name="images")
    x = _alexnet_conv(inputs, filters[0], 5, 1, strides=2, normalize=True)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool_1")(x)
    x = _alexnet_conv(x, filters[1], 5, 2, normalize=True)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool_2")(x)
    for index in (3, 4, 5):
        x = _alexnet_conv(x, filters[index - 1], 3, index)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool_5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout_6")(x)
    x = layers.Dense(dense_units, activation="relu", name="fc_6")(x)
    x = layers.Dropout(dropout, name="dropout_7")(x)
    x = layers.Dense(dense_units, activation="relu", name="features")(x)
    return keras.Model(inputs, _logits_head(x, num_classes), name="alexnet")


# Branch widths of one Inception module: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj.
InceptionWidths = tuple[int, int, int, int, int, int]

# GoogLeNet's 3a, 3b and 4a at about 3/8 width: 104, 160 and 216 channels out.
INCEPTION_MODULES: tuple[InceptionWidths, ...] = (
    (24, 32, 48, 8, 16, 16),
    (48, 48, 64, 8, 24, 24),
    (64, 48, 96, 8, 24, 32),
)


def _conv_bn(
    x: keras.KerasTensor, filters: int, kernel: int, name: str, strides: int = 1
) -> keras.KerasTensor:
    x = layers.Conv2D(
        filters, kernel, strides=strides, padding="same", use_bias=False, name=name
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def inception_module(
    x: keras.KerasTensor, widths: InceptionWidths, name: str
) -> keras.KerasTensor:
    """Four parallel branches, concatenated on channels: 1x1; 1x1 -> 3x3; 1x1 -> 5x5;
    3x3 max-pool -> 1x1. The 1x1 reductions keep the 3x3 and 5x5 convolutions cheap."""
    one, reduce3, three, reduce5, five, pool_proj = widths
    branch_1 = _conv_bn(x, one, 1, f"{name}_1x1")
    branch_3 = _conv_bn(_conv_bn(x, reduce3, 1, f"{name}_3x3_reduce"), three, 3, f"{name}_3x3")
    branch_5 = _conv_bn(_conv_bn(x, reduce5, 1, f"{name}_5x5_reduce"), five, 5, f"{name}_5x5")
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = _conv_bn(pooled, pool_proj, 1, f"{name}_pool_proj")
    return layers.Concatenate(name=f"{name}_concat")([branch_1, branch_3, branch_5, branch_pool])


def build_inception(
    input_shape: tuple[int, ...] = IMAGE_SHAPE,
    num_classes: int = 10,
    dropout: float = 0.4,
    modules: Sequence[InceptionWidths] = INCEPTION_MODULES,
    dense_units: int = 128,
    pool_after: Sequence[int] = (1,),
) -> keras.Model:
    """GoogLeNet-style network (Szegedy et al., 2014) for small images.

    GoogLeNet's stem at a 28x28 scale (a 5x5 stride-2 convolution and a 3x3
    convolution: 28 -> 14), then Inception modules with a 3x3 stride-2 max-pool
    after each module numbered in ``pool_after``, as GoogLeNet pools between its
    module groups (by default 14 -> 7 after the first: the first module still sees
    14x14 detail), global average pooling in place of a flattening head, as in
    the paper, and a small head: ``dense_units`` (``features``), Dropout, logits.
    Every convolution is followed by BatchNorm and ReLU (as in BN-Inception).
    GoogLeNet's auxiliary classifiers are left out: a net this shallow trains
    without them.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if not modules:
        raise ValueError("an Inception network needs at least one module")
    inputs = keras.Input(shape=input_shape, name="images")
    x = _conv_bn(inputs, 32, 5, "stem_conv_1", strides=2)
    x = _conv_bn(x, 64, 3, "stem_conv_2")
    for index, widths in enumerate(modules, start=1):
        x = inception_module(x, widths, f"inception_{index}")
        if index in pool_after:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool_{index}")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dense(dense_units, use_bias=False, name="head_dense")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.ReLU(name="features")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    return keras.Model(inputs, _logits_head(x, num_classes), name="inception")
