"""The forecast task around its models: member windows and scales, refits, the blend weight."""

import numpy as np
import pytest
import tensorflow as tf
from numpy.typing import NDArray

from training.recipes import HParams
from training.run import RunOptions
from training.tasks.forecast_members import member_windows, refit_members, step_deviation_scale
from training.tasks.forecast_validation import (
    FoldForecasts,
    blend_on_folds,
    choose_blend_weight,
    fold_origins,
)


def seasonal_series(months: int, seed: int = 0) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    series: NDArray[np.float32] = (
        315 + 0.1 * t + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.2, months)
    ).astype(np.float32)
    return series


def test_member_windows_keep_validation_months_out_of_training_targets():
    values = np.arange(100, dtype=np.float32)
    (x_train, y_train), (x_val, y_val) = member_windows(values, 10, 3, validation_start=70)
    assert y_train.max() == 69  # every window whose targets all come before 70
    assert len(x_train) == 70 - 10 - 3 + 1
    assert y_val[:, 0].min() == 70
    assert y_val.max() == 99
    np.testing.assert_array_equal(x_val[:, -1] + 1, y_val[:, 0])


def test_blend_weight_is_the_validation_minimum():
    rng = np.random.default_rng(0)
    actual = rng.normal(size=200).astype(np.float32)
    first = actual + rng.normal(0, 1, 200).astype(np.float32)
    second = actual + rng.normal(0, 1, 200).astype(np.float32)
    weight, grid = choose_blend_weight(first, second, actual)
    assert 0.3 <= weight <= 0.7  # two equally noisy, independent forecasts: about half each
    assert grid[f"{weight:.2f}"] == min(grid.values())
    assert choose_blend_weight(actual, second, actual)[0] == 0.0


def test_refit_runs_each_member_to_its_best_epoch_with_the_same_rates():
    hparams: HParams = {
        "member": "level",
        "member_window": 8,
        "horizon": 3,
        "units": 4,
        "dropout": 0.0,
        "lr": 0.01,
        "batch_size": 16,
    }
    train, _ = member_windows(seasonal_series(60), 8, 3, validation_start=60)
    history = {"val_loss": [3.0, 1.0, 2.0], "learning_rate": [0.01, 0.005, 0.0025]}
    lstm, refits = refit_members(
        hparams, RunOptions(verbose=0), tf.distribute.get_strategy(), train, [history]
    )
    assert len(refits[0]["loss"]) == 2  # the best validation epoch was the second
    assert refits[0]["learning_rate"] == pytest.approx([0.01, 0.005])
    assert lstm(train[0][:2]).shape == (2, 3)


def test_step_deviation_scale_ignores_the_seasonal_profile():
    # Identical years: every step equals its month's mean, so nothing is left over.
    year = np.array([0, 1, 3, 2, 0, -1, -2, -3, -1, 0, 1, 2], np.float32)
    windows = np.tile(year, 3)[np.newaxis, :25]
    assert step_deviation_scale(windows) == 1.0  # zero spread falls back to 1
    noisy = windows + np.random.default_rng(0).normal(0, 0.1, windows.shape).astype(np.float32)
    assert 0.05 < step_deviation_scale(noisy) < 0.3


def test_fold_origins_step_back_from_the_test_part():
    assert fold_origins(406, 48, 3, 240) == [262, 310, 358]
    assert fold_origins(406, 60, 1, 240) == [346]  # one span: the last months before test
    with pytest.raises(ValueError, match="leave no 240 months"):
        fold_origins(406, 60, 3, 240)


def _fold(start: int, actual: NDArray[np.float32], lstm_error: float) -> FoldForecasts:
    months = np.arange(start, start + len(actual))
    return FoldForecasts(
        months=months,
        recursion=actual + 0.3,
        lstm=actual + lstm_error,
        actual=actual,
        statsmodels=(actual + 0.3).astype(np.float64),
    )


def test_the_blend_weight_is_chosen_on_all_folds_together():
    actual = np.zeros(10, np.float32)
    # The LSTM beats the recursion in the later fold only: that fold alone would give it
    # all the weight; both together, the quarter where the earlier fold's errors cancel.
    folds = [_fold(0, actual, lstm_error=-0.9), _fold(10, actual, lstm_error=0.25)]
    dates = [f"m{i}" for i in range(20)]
    assert choose_blend_weight(folds[1].recursion, folds[1].lstm, actual)[0] == 1.0
    weight, facts = blend_on_folds(folds, dates)
    assert weight == 0.25
    assert facts["count"] == 20
    assert [fold["months"] for fold in facts["folds"]] == ["m0..m9", "m10..m19"]
    assert facts["folds"][1]["lstm_mae_1_step"] == 0.25
    assert facts["recursion_mae_1_step"] == facts["statsmodels_sarima_mae_1_step"] == 0.3
