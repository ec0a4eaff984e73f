"""The forecaster's held-out figures, against naive baselines and a SARIMA fitted here.

Also what the validation folds compare the network with: statsmodels' SARIMA,
fitted on the training months only and run one step ahead over the rest.
"""

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from training.evaluate import load_signature, run_batched
from training.tasks.forecast_members import SEASON

# The airline-style model the reference figure comes from.
SARIMA_ORDER = (1, 1, 1)
SARIMA_SEASONAL_ORDER = (0, 1, 1, SEASON)


def evaluate_forecaster(
    version_dir: Path, values: NDArray[np.float32], test_start: int, window: int, horizon: int
) -> tuple[dict[str, Any], NDArray[np.float32]]:
    """1-step and ``horizon``-step MAE on the held-out months, with naive baselines, MASE
    and the SARIMA baseline fitted here on the training months."""
    signature = load_signature(version_dir)
    origins = np.arange(test_start, len(values))
    inputs = np.stack([values[t - window : t] for t in origins]).astype(np.float32)
    forecast = run_batched(signature, {"series": inputs})["forecast"]
    one_step = forecast[:, 0]
    actual = values[origins]
    full = origins[origins + horizon <= len(values)]
    multi_pred = forecast[: len(full)]
    multi_actual = np.stack([values[t : t + horizon] for t in full])
    seasonal_naive = values[origins - SEASON]
    seasonal_diff = values[origins - 1] + values[origins - SEASON] - values[origins - SEASON - 1]
    multi_naive = np.stack([values[t - SEASON : t - SEASON + horizon] for t in full])
    train = values[:test_start]
    in_sample_scale = float(np.abs(train[SEASON:] - train[:-SEASON]).mean())
    mae_1 = float(np.abs(one_step - actual).mean())
    mae_h = float(np.abs(multi_pred - multi_actual).mean())
    metrics: dict[str, Any] = {
        "test_mae_1_step": round(mae_1, 4),
        f"test_mae_{horizon}_step": round(mae_h, 4),
        "test_rmse_1_step": round(float(np.sqrt(((one_step - actual) ** 2).mean())), 4),
        "mase_1_step": round(mae_1 / in_sample_scale, 4),
        f"mase_{horizon}_step": round(mae_h / in_sample_scale, 4),
        "seasonal_naive_mae_1_step": round(float(np.abs(seasonal_naive - actual).mean()), 4),
        "seasonal_difference_naive_mae_1_step": round(
            float(np.abs(seasonal_diff - actual).mean()), 4
        ),
        f"seasonal_naive_mae_{horizon}_step": round(
            float(np.abs(multi_naive - multi_actual).mean()), 4
        ),
        "test_points": len(origins),
    }
    sarima = sarima_one_step(values, test_start)
    sarima_mae = float(np.abs(sarima - actual).mean())
    metrics["sarima_mae_1_step"] = round(sarima_mae, 4)
    metrics["sarima"] = (
        f"statsmodels SARIMAX {SARIMA_ORDER}x{SARIMA_SEASONAL_ORDER} fitted on the "
        f"{test_start} training months only; its parameters then fixed, each test month "
        "forecast one step ahead from all months before it"
    )
    metrics["beats_sarima_1_step"] = bool(mae_1 < sarima_mae)
    return metrics, one_step


def sarima_one_step(values: NDArray[np.float32], test_start: int) -> NDArray[np.float64]:
    """Rolling 1-step SARIMA forecasts of ``values[test_start:]``.

    The model is fitted on the months before ``test_start`` only; ``apply`` runs
    the same parameters over the whole series, so month ``t``'s prediction uses
    the observations up to ``t - 1`` and nothing is refitted on test months.
    """
    history = values.astype(np.float64)
    rolling = fit_sarima(history[:test_start]).apply(history)
    return np.asarray(rolling.predict(start=test_start, end=len(history) - 1))


def sarima_coefficients(values: NDArray[np.float32]) -> tuple[float, float, float]:
    """``(ar, ma, seasonal_ma)`` of the SARIMA baseline fitted on ``values``."""
    params = fit_sarima(values.astype(np.float64)).params
    ar, ma, seasonal_ma = (float(p) for p in params[:3])
    return ar, ma, seasonal_ma


def fit_sarima(history: NDArray[np.float64]) -> Any:
    """statsmodels' maximum-likelihood fit of the baseline's order on ``history``."""
    # Imported here: statsmodels is slow to import and only the baseline needs it.
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    model = SARIMAX(history, order=SARIMA_ORDER, seasonal_order=SARIMA_SEASONAL_ORDER)
    return model.fit(disp=False)
