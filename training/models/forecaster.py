"""Forecasters that take a window of raw values and predict the next ``horizon`` at once.

Everything lives inside the models, so callers send raw values.

- :func:`build_lstm_forecaster`: each window is shifted by its own last value and
  divided by a scale fixed at training time (per-window shifting lets it follow a
  trend past the range it was trained on), then two LSTMs.
- :func:`build_sarima_recursion`: SARIMA(1,1,1)(0,1,1,s) as a recurrent layer. Its
  cell (:class:`SeasonalInnovationsCell`) is the model's innovations recursion on
  double differences, a linear RNN with three weights whose state is the last
  difference and the last ``s + 1`` innovations; it forecasts as SARIMA does, by
  running on with zero innovations.
- :func:`build_hybrid_forecaster`: the two blended with a fixed weight, one model.
"""

from collections.abc import Sequence
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
    name: str = "lstm_forecaster",
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
    return keras.Model(series, forecast, name=name)


@keras.saving.register_keras_serializable(package="kerasserve")
class SeasonalSteps(layers.Layer):
    """Splits a raw window into its mean seasonal profile of steps and the deviations from it.

    The last ``years * season`` month-to-month steps of the window are folded into
    ``[years, season]``. Their mean over the years is the profile: the typical step
    into each month of the season, trend included. The steps minus the profile,
    divided by ``scale``, are the sequence ``[N, years * season, 1]`` the recurrent
    layers read. Averaging over years is what a one-year seasonal difference lacks:
    the noise of a single year does not pass into the forecast.
    """

    def __init__(self, season: int, years: int, scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if season < 2 or years < 1 or scale <= 0:
            raise ValueError(
                f"need season >= 2, years >= 1, scale > 0; got {season}, {years}, {scale}"
            )
        self.season = int(season)
        self.years = int(years)
        self.scale = float(scale)

    def call(self, window: Any) -> tuple[Any, Any]:
        steps = window[:, 1:] - window[:, :-1]
        folded = ops.reshape(steps[:, -self.years * self.season :], (-1, self.years, self.season))
        profile = ops.mean(folded, axis=1)
        deviations = (folded - ops.expand_dims(profile, axis=1)) / self.scale
        sequence = ops.reshape(deviations, (-1, self.years * self.season, 1))
        return sequence, profile

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "season": self.season,
            "years": self.years,
            "scale": self.scale,
        }


@keras.saving.register_keras_serializable(package="kerasserve")
class SeasonalForecast(layers.Layer):
    """The profile's steps added up from the window's last value, plus the scaled correction.

    The step into month ``t + k`` has the phase of profile entry ``k - 1``, so for
    ``horizon <= season`` the base forecast is ``last + cumsum(profile)[:horizon]``.
    """

    def __init__(self, scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs: list[Any]) -> Any:
        correction, profile, window = inputs
        horizon = correction.shape[-1]
        base = window[:, -1:] + ops.cumsum(profile[:, :horizon], axis=1)
        return base + correction * self.scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}


def build_seasonal_lstm_forecaster(
    window: int = 121,
    horizon: int = 12,
    scale: float = 1.0,
    units: int = 64,
    dropout: float = 0.0,
    season: int = 12,
    name: str = "seasonal_lstm_forecaster",
) -> keras.Model:
    """Raw window ``[N, window]`` in, next ``horizon`` values out, by seasonal steps.

    The forecast starts from the window's last value and adds the mean step of each
    coming month over the ``(window - 1) // season`` years in the window
    (:class:`SeasonalSteps`); two LSTMs read the deviations of every step from that
    profile and correct it. The correction head starts at zero, so an untrained
    model is the seasonal-mean baseline.
    """
    years = (window - 1) // season
    if years < 1 or not 1 <= horizon <= season:
        raise ValueError(
            f"need window > season ({season}) and 1 <= horizon <= season, "
            f"got window {window} and horizon {horizon}"
        )
    series = keras.Input(shape=(window,), name="series")
    sequence, profile = SeasonalSteps(season, years, scale, name="seasonal_steps")(series)
    x = layers.LSTM(units, return_sequences=True, name="lstm_1")(sequence)
    x = layers.LSTM(units, name="lstm_2")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(horizon, kernel_initializer="zeros", dtype="float32", name="correction")(x)
    forecast = SeasonalForecast(scale, dtype="float32", name="forecast")([x, profile, series])
    return keras.Model(series, forecast, name=name)


@keras.saving.register_keras_serializable(package="kerasserve")
class DoubleDifferences(layers.Layer):
    """Raw window ``[N, W]`` to the recursion's input sequence ``[N, W - season - 1 + horizon, 2]``.

    Channel 0 is ``d_t = (1 - B)(1 - B^season) y_t`` for every month the window
    covers, then ``horizon`` zeros for the months to forecast; channel 1 is 1 for
    observed months and 0 for those future ones.
    """

    def __init__(self, season: int, horizon: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if season < 2 or horizon < 1:
            raise ValueError(f"need season >= 2 and horizon >= 1, got {season} and {horizon}")
        self.season = int(season)
        self.horizon = int(horizon)

    def call(self, window: Any) -> Any:
        seasonal = window[:, self.season :] - window[:, : -self.season]
        steps = seasonal[:, 1:] - seasonal[:, :-1]
        observed = ops.stack([steps, ops.ones_like(steps)], axis=-1)
        future = ops.zeros((ops.shape(window)[0], self.horizon, 2), dtype=window.dtype)
        return ops.concatenate([observed, future], axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "season": self.season, "horizon": self.horizon}


@keras.saving.register_keras_serializable(package="kerasserve")
class SeasonalInnovationsCell(layers.Layer):
    """One month of the SARIMA(1,1,1)(0,1,1,s) innovations recursion, as a recurrent cell.

    On double differences ``d`` the model says
    ``d_t = ar d_{t-1} + e_t + ma e_{t-1} + sma e_{t-s} + ma sma e_{t-s-1}``, so the
    prediction of ``d_t`` from the state is everything but ``e_t`` and the
    innovation is what the observation adds: ``e_t = d_t - prediction``. The state
    is the last ``d`` and the last ``s + 1`` innovations. On a future month (flag
    0) the innovation is zero and the prediction stands in for ``d_t``, which is how
    a fitted SARIMA forecasts several steps ahead. Each step outputs ``(d_t, e_t)``.
    The three coefficients are weights, initialised from a statsmodels fit.
    """

    def __init__(
        self,
        season: int = 12,
        ar: float = 0.0,
        ma: float = 0.0,
        seasonal_ma: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if season < 2:
            raise ValueError(f"need season >= 2, got {season}")
        self.season = int(season)
        self.initial = {"ar": float(ar), "ma": float(ma), "seasonal_ma": float(seasonal_ma)}
        self.state_size = [1, self.season + 1]
        self.output_size = 2

    def build(self, input_shape: Any) -> None:
        self.ar, self.ma, self.seasonal_ma = (
            self.add_weight(shape=(), initializer=keras.initializers.Constant(value), name=name)
            for name, value in self.initial.items()
        )

    def call(self, inputs: Any, states: Any) -> tuple[Any, list[Any]]:
        previous, innovations = states
        observation, observed = inputs[:, :1], inputs[:, 1:]
        prediction = (
            self.ar * previous
            + self.ma * innovations[:, :1]
            + self.seasonal_ma * innovations[:, self.season - 1 : self.season]
            + self.ma * self.seasonal_ma * innovations[:, self.season :]
        )
        innovation = observed * (observation - prediction)
        step = prediction + innovation
        shifted = ops.concatenate([innovation, innovations[:, :-1]], axis=1)
        return ops.concatenate([step, innovation], axis=1), [step, shifted]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "season": self.season, **self.initial}


@keras.saving.register_keras_serializable(package="kerasserve")
class SeasonalIntegration(layers.Layer):
    """The recursion's forecast double differences back to levels.

    With ``s_t = y_t - y_{t-season}``: ``s_{T+k} = s_T + d_{T+1} + ... + d_{T+k}`` and
    ``y_{T+k} = y_{T+k-season} + s_{T+k}``; for ``k <= season`` the first term is in
    the window.
    """

    def __init__(self, season: int, horizon: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 1 <= horizon <= season:
            raise ValueError(f"need 1 <= horizon <= season, got {horizon} and {season}")
        self.season = int(season)
        self.horizon = int(horizon)

    def call(self, inputs: list[Any]) -> Any:
        window, recursion = inputs
        steps = recursion[:, -self.horizon :, 0]
        width = window.shape[-1]
        year_ago = window[:, width - self.season : width - self.season + self.horizon]
        seasonal = window[:, -1:] - window[:, -self.season - 1 : -self.season]
        return year_ago + seasonal + ops.cumsum(steps, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "season": self.season, "horizon": self.horizon}


def build_sarima_recursion(
    window: int = 240,
    horizon: int = 12,
    coefficients: tuple[float, float, float] = (0.0, 0.0, 0.0),
    season: int = 12,
    name: str = "sarima_recursion",
) -> keras.Model:
    """Raw window ``[N, window]`` in, SARIMA(1,1,1)(0,1,1,season)'s next ``horizon``
    values out, run as a recurrent layer with fixed ``(ar, ma, seasonal_ma)``.

    The recursion starts from a zero state at the window's first double difference;
    the months before the last few are its burn-in. With a seasonal MA near -0.85
    the start's weight decays to 5% in about 18 years, hence long windows.
    """
    if window < 2 * season + 2:
        raise ValueError(f"need window >= {2 * season + 2}, got {window}")
    ar, ma, seasonal_ma = coefficients
    series = keras.Input(shape=(window,), name="series")
    differences = DoubleDifferences(season, horizon, name="double_differences")(series)
    recursion = layers.RNN(
        SeasonalInnovationsCell(season, ar, ma, seasonal_ma, name="innovations_cell"),
        return_sequences=True,
        name="innovations",
    )(differences)
    forecast = SeasonalIntegration(season, horizon, dtype="float32", name="forecast")(
        [series, recursion]
    )
    model = keras.Model(series, forecast, name=name)
    model.trainable = False
    return model


@keras.saving.register_keras_serializable(package="kerasserve")
class RecentMonths(layers.Layer):
    """The last ``length`` values of a window, for a member that reads a shorter one."""

    def __init__(self, length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if length < 1:
            raise ValueError(f"need length >= 1, got {length}")
        self.length = int(length)

    def call(self, window: Any) -> Any:
        return window[:, -self.length :]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "length": self.length}


@keras.saving.register_keras_serializable(package="kerasserve")
class Blend(layers.Layer):
    """``(1 - weight) * first + weight * second``, the weight fixed at build time."""

    def __init__(self, weight: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight}")
        self.weight = float(weight)

    def call(self, inputs: list[Any]) -> Any:
        first, second = inputs
        return (1.0 - self.weight) * first + self.weight * second

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weight": self.weight}


def build_hybrid_forecaster(
    recursion: keras.Model,
    lstm: keras.Model,
    weight: float,
    name: str = "sarima_lstm_hybrid",
) -> keras.Model:
    """The recursion's window in, its forecast blended with the LSTM's (which reads
    the last months of the same window): ``(1 - weight) * sarima + weight * lstm``."""
    window, member_window = recursion.input.shape[-1], lstm.input.shape[-1]
    if member_window > window:
        raise ValueError(f"the LSTM's window {member_window} is longer than {window}")
    series = keras.Input(shape=(window,), name="series")
    recent = RecentMonths(member_window, name="recent_months")(series)
    forecast = Blend(weight, dtype="float32", name="forecast")([recursion(series), lstm(recent)])
    return keras.Model(series, forecast, name=name)


def build_forecast_ensemble(
    members: Sequence[keras.Model], name: str = "forecast_ensemble"
) -> keras.Model:
    """One model whose forecast is the mean of its members' (same input and horizon,
    distinct names)."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    series = keras.Input(shape=members[0].input.shape[1:], name="series")
    if len(members) == 1:
        return keras.Model(series, members[0](series), name=name)
    forecasts = [member(series) for member in members]
    mean = layers.Average(dtype="float32", name="forecast")(forecasts)
    return keras.Model(series, mean, name=name)
