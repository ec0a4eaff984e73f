"""The hybrid forecaster's layers: SARIMA's recursion as a recurrent layer, and the blend."""

import keras
import numpy as np
import pytest
from numpy.typing import NDArray

from training.models.forecaster import (
    Blend,
    DoubleDifferences,
    RecentMonths,
    SeasonalInnovationsCell,
    SeasonalIntegration,
    build_forecast_ensemble,
    build_hybrid_forecaster,
    build_lstm_forecaster,
    build_sarima_recursion,
)

SEASON = 4  # a short season keeps the windows small; the code is the same for 12
COEFFICIENTS = (0.4, -0.6, -0.8)


def seasonal_series(months: int, season: int = SEASON, seed: int = 0) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    wave = 3 * np.sin(2 * np.pi * t / season)
    drift = rng.normal(0, 0.3, months).cumsum() * 0.2
    series: NDArray[np.float32] = (300 + 0.1 * t + wave + drift).astype(np.float32)
    return series


def reference_forecast(
    window: NDArray[np.floating],
    coefficients: tuple[float, float, float],
    season: int,
    horizon: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Innovations of the window and the next ``horizon`` values, by plain loops."""
    ar, ma, sma = coefficients
    y = list(window.astype(np.float64))
    d = [(y[t] - y[t - season]) - (y[t - 1] - y[t - season - 1]) for t in range(season + 1, len(y))]
    e: list[float] = []

    def at(values: list[float], index: int) -> float:
        return values[index] if index >= 0 else 0.0

    def prediction(t: int, steps: list[float]) -> float:
        return (
            ar * at(steps, t - 1)
            + ma * at(e, t - 1)
            + sma * at(e, t - season)
            + ma * sma * at(e, t - season - 1)
        )

    for t, observed in enumerate(d):
        e.append(observed - prediction(t, d))
    steps = list(d)
    for _ in range(horizon):
        t = len(steps)
        steps.append(prediction(t, steps))
        e.append(0.0)
        y.append(y[-1] + y[-season] - y[-season - 1] + steps[-1])
    return np.array(e[: len(d)]), np.array(y[-horizon:])


def test_double_differences_mark_observed_and_future_months():
    window = seasonal_series(20)[np.newaxis]
    out = DoubleDifferences(SEASON, horizon=3)(window).numpy()
    assert out.shape == (1, 20 - SEASON - 1 + 3, 2)
    y = window[0].astype(np.float64)
    expected = np.diff(y[SEASON:] - y[:-SEASON])
    np.testing.assert_allclose(out[0, :-3, 0], expected, atol=1e-4)
    np.testing.assert_array_equal(out[0, :, 1], [1.0] * len(expected) + [0.0] * 3)
    np.testing.assert_array_equal(out[0, -3:, 0], 0.0)


def test_innovations_cell_matches_the_loop_reference():
    window = seasonal_series(40, seed=3)
    differences = DoubleDifferences(SEASON, horizon=2)(window[np.newaxis])
    rnn = keras.layers.RNN(SeasonalInnovationsCell(SEASON, *COEFFICIENTS), return_sequences=True)
    out = rnn(differences).numpy()[0]
    innovations, _ = reference_forecast(window, COEFFICIENTS, SEASON, horizon=2)
    observed = len(innovations)
    np.testing.assert_allclose(out[:observed, 1], innovations, atol=1e-4)
    # On future months the innovation is zero and the step is the prediction.
    np.testing.assert_array_equal(out[observed:, 1], 0.0)
    assert np.abs(out[observed:, 0]).max() > 0


@pytest.mark.parametrize("horizon", [1, 3, SEASON])
def test_recursion_forecast_matches_the_loop_reference(horizon):
    windows = np.stack([seasonal_series(30, seed=seed) for seed in range(3)])
    model = build_sarima_recursion(30, horizon, COEFFICIENTS, SEASON)
    forecast = model(windows).numpy()
    assert forecast.shape == (3, horizon)
    for window, row in zip(windows, forecast, strict=True):
        _, expected = reference_forecast(window, COEFFICIENTS, SEASON, horizon)
        np.testing.assert_allclose(row, expected, atol=1e-3)
    assert not model.trainable


def test_recursion_with_a_long_window_agrees_with_statsmodels():
    """Fixed parameters, rolling 1-step: the zero start is forgotten over the burn-in."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    season, window = 12, 240
    values = seasonal_series(300, season=season, seed=7)
    fixed = SARIMAX(values.astype(np.float64), order=(1, 1, 1), seasonal_order=(0, 1, 1, season))
    params = np.array([*COEFFICIENTS, 0.1])
    expected = np.asarray(fixed.smooth(params).predict(start=window, end=len(values) - 1))
    inputs = np.stack([values[t - window : t] for t in range(window, len(values))])
    forecast = build_sarima_recursion(window, 1, COEFFICIENTS, season)(inputs).numpy()[:, 0]
    assert np.abs(forecast - expected).mean() < 0.02


def test_blend_weights_its_two_forecasts():
    first, second = np.ones((2, 3), np.float32), np.full((2, 3), 3.0, np.float32)
    np.testing.assert_allclose(Blend(0.25)([first, second]).numpy(), 1.5)
    np.testing.assert_allclose(Blend(0.0)([first, second]).numpy(), 1.0)
    with pytest.raises(ValueError, match="weight"):
        Blend(1.5)


def test_hybrid_blends_the_recursion_with_the_lstm_on_its_last_months():
    recursion = build_sarima_recursion(30, 3, COEFFICIENTS, SEASON)
    lstm = build_forecast_ensemble(
        [build_lstm_forecaster(8, 3, 1.0, units=4, name=f"lstm_{i}") for i in (1, 2)]
    )
    windows = np.stack([seasonal_series(30, seed=seed) for seed in range(4)])
    hybrid = build_hybrid_forecaster(recursion, lstm, weight=0.3)
    expected = 0.7 * recursion(windows).numpy() + 0.3 * lstm(windows[:, -8:]).numpy()
    np.testing.assert_allclose(hybrid(windows).numpy(), expected, atol=1e-4)
    with pytest.raises(ValueError, match="longer"):
        build_hybrid_forecaster(
            build_sarima_recursion(10, 3, COEFFICIENTS, SEASON),
            build_lstm_forecaster(12, 3, 1.0, units=4),
            0.5,
        )


def test_hybrid_survives_a_keras_round_trip(tmp_path):
    recursion = build_sarima_recursion(30, 3, COEFFICIENTS, SEASON)
    lstm = build_lstm_forecaster(8, 3, 1.0, units=4)
    hybrid = build_hybrid_forecaster(recursion, lstm, weight=0.4)
    hybrid.save(tmp_path / "hybrid.keras")
    restored = keras.models.load_model(tmp_path / "hybrid.keras")
    windows = np.stack([seasonal_series(30, seed=seed) for seed in range(2)])
    np.testing.assert_allclose(restored(windows).numpy(), hybrid(windows).numpy(), atol=1e-5)
    cell = restored.get_layer("sarima_recursion").get_layer("innovations").cell
    assert [float(w) for w in (cell.ar, cell.ma, cell.seasonal_ma)] == pytest.approx(COEFFICIENTS)
    assert restored.get_layer("forecast").weight == pytest.approx(0.4)


@pytest.mark.parametrize(
    "layer",
    [
        DoubleDifferences(12, 3),
        SeasonalInnovationsCell(12, *COEFFICIENTS),
        SeasonalIntegration(12, 3),
        RecentMonths(36),
        Blend(0.2),
    ],
)
def test_layer_configs_rebuild_the_same_layer(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


def test_layers_reject_impossible_settings():
    with pytest.raises(ValueError):
        DoubleDifferences(1, 3)
    with pytest.raises(ValueError):
        SeasonalIntegration(12, 13)
    with pytest.raises(ValueError):
        build_sarima_recursion(20, 3, COEFFICIENTS, 12)
