"""Keras 3 Functional builders for every architecture in the zoo."""

from training.models.cgan import (
    ConditionalGAN,
    build_class_critic,
    build_discriminator,
    build_generator,
)
from training.models.classifiers import (
    build_alexnet,
    build_inception,
    build_lenet5,
    build_mlp,
    build_vgg,
)
from training.models.forecaster import build_lstm_forecaster

__all__ = [
    "ConditionalGAN",
    "build_alexnet",
    "build_class_critic",
    "build_discriminator",
    "build_generator",
    "build_inception",
    "build_lenet5",
    "build_lstm_forecaster",
    "build_mlp",
    "build_vgg",
]
