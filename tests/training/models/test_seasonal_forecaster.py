"""The seasonal-step LSTM members of the CO2 forecaster and their ensemble (ported
from the wip/issue-11 branch)."""

import keras
import numpy as np
import pytest
from numpy.typing import NDArray

from training.models.forecaster import build_forecast_ensemble, build_seasonal_lstm_forecaster


def seasonal_series(months: int, seed: int = 0) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    wave = 3 * np.sin(2 * np.pi * t / 12)
    series: NDArray[np.float32] = (315 + 0.1 * t + wave + rng.normal(0, 0.2, months)).astype(
        np.float32
    )
    return series


def test_an_untrained_seasonal_forecaster_adds_the_mean_steps_of_past_years():
    values = seasonal_series(49)
    model = build_seasonal_lstm_forecaster(window=49, horizon=3, scale=0.3, units=4)
    forecast = model(values[np.newaxis]).numpy()[0]
    steps = np.diff(values).reshape(4, 12).mean(axis=0)  # the window's 4 years
    np.testing.assert_allclose(forecast, values[-1] + np.cumsum(steps[:3]), rtol=0, atol=1e-3)


def test_the_seasonal_forecaster_follows_a_shift_of_the_whole_window():
    model = build_seasonal_lstm_forecaster(window=25, horizon=12, scale=0.3, units=4)
    model.get_layer("correction").set_weights(
        [np.full((4, 12), 0.3, np.float32), np.zeros(12, np.float32)]
    )
    window = seasonal_series(25)[np.newaxis]
    np.testing.assert_allclose(model(window + 50).numpy() - model(window).numpy(), 50, atol=1e-3)


@pytest.mark.parametrize(("window", "horizon"), [(12, 1), (25, 13), (25, 0)])
def test_the_seasonal_forecaster_needs_a_year_of_steps_and_a_horizon_within_the_season(
    window, horizon
):
    with pytest.raises(ValueError, match="season"):
        build_seasonal_lstm_forecaster(window=window, horizon=horizon)


def test_an_ensemble_forecasts_the_mean_of_its_members():
    members = [
        build_seasonal_lstm_forecaster(25, 4, 0.3, 4, name=f"member_{index}") for index in (1, 2)
    ]
    for offset, member in zip((0.0, 1.0), members, strict=True):
        member.get_layer("correction").set_weights(
            [np.zeros((4, 4), np.float32), np.full(4, offset, np.float32)]
        )
    window = seasonal_series(25)[np.newaxis]
    ensemble = build_forecast_ensemble(members)
    expected = (members[0](window).numpy() + members[1](window).numpy()) / 2
    np.testing.assert_allclose(ensemble(window).numpy(), expected, atol=1e-5)
    with pytest.raises(ValueError):
        build_forecast_ensemble([])


def test_a_seasonal_member_survives_a_keras_round_trip(tmp_path):
    member = build_seasonal_lstm_forecaster(25, 4, 0.3, 4)
    member.get_layer("correction").set_weights(
        [np.full((4, 4), 0.1, np.float32), np.zeros(4, np.float32)]
    )
    member.save(tmp_path / "member.keras")
    restored = keras.models.load_model(tmp_path / "member.keras")
    window = seasonal_series(25)[np.newaxis]
    np.testing.assert_allclose(restored(window).numpy(), member(window).numpy(), atol=1e-5)
