"""Losses the recipes choose by hyperparameter."""

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasserve")
class SparseCrossentropyWithSmoothing(keras.losses.Loss):
    """Softmax cross-entropy on logits against integer labels, with label smoothing.

    Keras' sparse cross-entropy has no smoothing, so the labels are one-hot encoded
    here: the target puts ``1 - smoothing + smoothing / classes`` on the true class
    and ``smoothing / classes`` on each other one (Szegedy et al., 2016).
    """

    def __init__(
        self, label_smoothing: float, name: str = "smoothed_crossentropy", **kwargs: Any
    ) -> None:
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=True, label_smoothing=self.label_smoothing
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def classification_loss(label_smoothing: float = 0.0) -> keras.losses.Loss:
    """Cross-entropy on logits for integer labels, smoothed when asked."""
    if label_smoothing == 0.0:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return SparseCrossentropyWithSmoothing(label_smoothing)
