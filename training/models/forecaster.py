"""LSTM forecaster that takes raw values and predicts the next ``horizon`` at once.

Normalisation lives inside the model, so callers send raw values: each window is
shifted by its own last value and divided by a scale fixed at training time.
Per-window shifting lets the model follow a trend past the range it was trained on.
"""

from typing import Any

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kerasserve")
class WindowNormalization(layers.Layer):
    """Maps a raw window to ``(window - window[-1]) / scale``, shaped for a recurrent layer."""

    def __init__(self, scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = float(scale)

    def call(self, window: Any) -> Any:
        anchor = window[:, -1:]
        return ops.expand_dims((window - anchor) / self.scale, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="kerasserve")
class WindowDenormalization(layers.Layer):
    """Inverse of :class:`WindowNormalization` for the predicted steps."""

    def __init__(self, scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs: list[Any]) -> Any:
        normalized, window = inputs
        return normalized * self.scale + window[:, -1:]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}


def build_lstm_forecaster(
    window: int = 36,
    horizon: int = 12,
    scale: float = 1.0,
    units: int = 64,
    dropout: float = 0.0,
) -> keras.Model:
    """Window of raw values ``[N, window]`` in, next ``horizon`` values ``[N, horizon]`` out."""
    if window < 2 or horizon < 1:
        raise ValueError(f"need window >= 2 and horizon >= 1, got {window} and {horizon}")
    series = keras.Input(shape=(window,), name="series")
    x = WindowNormalization(scale, name="normalize")(series)
    x = layers.LSTM(units, return_sequences=True, name="lstm_1")(x)
    x = layers.LSTM(units, name="lstm_2")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(horizon, dtype="float32", name="steps")(x)
    forecast = WindowDenormalization(scale, dtype="float32", name="forecast")([x, series])
    return keras.Model(series, forecast, name="lstm_forecaster")
