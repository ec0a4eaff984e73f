"""Choosing the forecaster's blend weight on rolling origins.

Each validation fold is a span of training months forecast one step ahead by an
LSTM ensemble and a SARIMA recursion fitted only on the months before it; the
weight on the LSTMs is the one with the least 1-step error over every fold
together, so one lucky or unlucky stretch of years does not decide it alone.
"""

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from numpy.typing import NDArray

from training.tasks.forecast_evaluation import sarima_one_step


def rolling_windows(values: NDArray[np.float32], months: NDArray[np.int64], window: int) -> Any:
    """The ``window`` months before each of ``months``: the inputs of 1-step forecasts."""
    return np.stack([values[t - window : t] for t in months]).astype(np.float32)


def choose_blend_weight(
    recursion: NDArray[np.float32], lstm: NDArray[np.float32], actual: NDArray[np.float32]
) -> tuple[float, dict[str, float]]:
    """The weight on the LSTM, in steps of 0.05, with the least 1-step MAE (ties: less LSTM)."""
    grid = np.round(np.linspace(0.0, 1.0, 21), 2)
    maes = {f"{w:.2f}": float(np.abs((1 - w) * recursion + w * lstm - actual).mean()) for w in grid}
    best = min(grid, key=lambda w: (round(maes[f"{w:.2f}"], 6), w))
    return float(best), {key: round(mae, 4) for key, mae in maes.items()}


@dataclass(frozen=True)
class FoldForecasts:
    """Both branches' rolling 1-step forecasts over one validation fold's months."""

    months: NDArray[np.int64]
    recursion: NDArray[np.float32]
    lstm: NDArray[np.float32]
    actual: NDArray[np.float32]
    statsmodels: NDArray[np.float64]


def fold_forecasts(
    values: NDArray[np.float32],
    months: NDArray[np.int64],
    lstm: keras.Model,
    recursion: keras.Model,
) -> FoldForecasts:
    """Rolling 1-step forecasts of ``months`` by models fitted on the months before them."""
    lstm_window, window = int(lstm.input.shape[-1]), int(recursion.input.shape[-1])
    return FoldForecasts(
        months=months,
        recursion=recursion.predict(rolling_windows(values, months, window), verbose=0)[:, 0],
        lstm=lstm.predict(rolling_windows(values, months, lstm_window), verbose=0)[:, 0],
        actual=values[months],
        statsmodels=sarima_one_step(values[: months[-1] + 1], int(months[0])),
    )


def blend_on_folds(folds: list[FoldForecasts], dates: Any) -> tuple[float, dict[str, Any]]:
    """The LSTM's blend weight chosen by rolling 1-step MAE over every fold's months
    together, with the figures that chose it, overall and fold by fold."""

    def joined(field: str) -> NDArray[Any]:
        return np.concatenate([getattr(fold, field) for fold in folds])

    recursion, lstm, actual = joined("recursion"), joined("lstm"), joined("actual")
    weight, grid = choose_blend_weight(recursion, lstm, actual)

    def mae(predicted: NDArray[Any], truth: NDArray[Any]) -> float:
        return round(float(np.abs(predicted - truth).mean()), 4)

    blended = (1 - weight) * recursion + weight * lstm
    return weight, {
        "count": len(actual),
        "blend_weight": weight,
        "mae_1_step_by_weight": grid,
        "mae_1_step": mae(blended, actual),
        "lstm_mae_1_step": mae(lstm, actual),
        "recursion_mae_1_step": mae(recursion, actual),
        "statsmodels_sarima_mae_1_step": mae(joined("statsmodels"), actual),
        "folds": [
            {
                "months": f"{dates[fold.months[0]]}..{dates[fold.months[-1]]}",
                "lstm_mae_1_step": mae(fold.lstm, fold.actual),
                "recursion_mae_1_step": mae(fold.recursion, fold.actual),
                "statsmodels_sarima_mae_1_step": mae(fold.statsmodels, fold.actual),
                "blend_mae_1_step": mae(
                    (1 - weight) * fold.recursion + weight * fold.lstm, fold.actual
                ),
            }
            for fold in folds
        ],
    }


def fold_origins(test_start: int, fold_months: int, folds: int, window: int) -> list[int]:
    """First months of the validation folds, oldest first; the last ends at the test part."""
    origins = [test_start - k * fold_months for k in range(folds, 0, -1)]
    if folds < 1 or origins[0] < window:
        raise ValueError(
            f"{folds} validation folds of {fold_months} months leave no {window} months "
            "before the first"
        )
    return origins
