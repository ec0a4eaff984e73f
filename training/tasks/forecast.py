"""Train the CO2 forecaster on monthly Mauna Loa CO2, holding out the last months for testing.

The forecaster is a hybrid in one Keras model, in the spirit of ES-RNN (Smyl, the
M4 winner): SARIMA(1,1,1)(0,1,1,12)'s innovations recursion as a recurrent layer
(:func:`training.models.forecaster.build_sarima_recursion`), blended with an
ensemble of LSTMs that read the window's last months (by default they correct the
mean seasonal steps of the last ten years). The recursion carries the long seasonal
memory (a seasonal MA near -0.85 averages each calendar month over about seven
years) that 406 training months cannot teach a network with many free weights; the
LSTMs make different errors, and the blend weight is the one with the least 1-step
error on the validation months. It stays a recurrent network in the course's sense:
both branches are Keras RNN layers run over the window month by month, the
recursion a linear cell whose state is carried from step to step, trained (its
three weights) by maximum likelihood instead of backpropagation.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from training import plots
from training.card import build_card, write_card
from training.datasets import load_co2
from training.evaluate import load_signature, run_batched
from training.export import export_saved_model, forecaster_serving_model, staged_version
from training.models.forecaster import build_hybrid_forecaster, build_sarima_recursion
from training.recipes import HParams, Recipe
from training.run import RunOptions, RunResult, Trained, training_facts
from training.tasks.forecast_members import SEASON, fit_members, member_windows, refit_members

logger = logging.getLogger(__name__)
# The airline-style model the reference figure comes from.
SARIMA_ORDER = (1, 1, 1)
SARIMA_SEASONAL_ORDER = (0, 1, 1, SEASON)


@dataclass(frozen=True)
class SeriesSplit:
    values: NDArray[np.float32]
    test_start: int
    source: str
    checksum: str
    dates: Any


def split_series(values: NDArray[np.float32], window: int, test_months: int) -> int:
    if len(values) < window + test_months + SEASON + 1:
        raise ValueError(f"series of {len(values)} points is too short for this window and test")
    return len(values) - test_months


def rolling_windows(values: NDArray[np.float32], months: NDArray[np.int64], window: int) -> Any:
    """The ``window`` months before each of ``months``: the inputs of 1-step forecasts."""
    return np.stack([values[t - window : t] for t in months]).astype(np.float32)


@dataclass(frozen=True)
class FitContext:
    """What export needs beyond the model: the series split and each member's curves."""

    split: SeriesSplit
    member_histories: list[dict[str, list[float]]]


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


class ForecastTask:
    def fit(
        self,
        recipe: Recipe,
        hparams: HParams,
        options: RunOptions,
        strategy: tf.distribute.Strategy,
    ) -> Trained:
        """Choose the LSTMs' blend weight with SARIMA's recursion on rolling origins (for
        each of the last ``validation_folds`` spans of training months, both fitted on
        the months before it and judged on it), keep the last span's LSTMs, then refit
        them (with ``refit``) and the recursion's three coefficients on all training
        months. One span is a single validation period; several keep one lucky or
        unlucky stretch of years from deciding the weight alone."""
        series = load_co2()
        values = series.values
        window, horizon = int(hparams["window"]), int(hparams["horizon"])
        test_start = split_series(values, window, int(hparams["test_months"]))
        fold_months = int(hparams["validation_months"])
        origins = fold_origins(test_start, fold_months, int(hparams["validation_folds"]), window)
        folds = []
        for origin in origins:  # the LSTMs of the last fold are the ones exported
            end = origin + fold_months
            train, validation = member_windows(
                values[:end], int(hparams["member_window"]), horizon, origin
            )
            if options.limit is not None:
                train = (train[0][-options.limit :], train[1][-options.limit :])
            lstm, histories = fit_members(recipe, hparams, options, strategy, train, validation)
            early = sarima_coefficients(values[:origin])
            recursion_before = build_sarima_recursion(window, horizon, early, SEASON)
            folds.append(fold_forecasts(values, np.arange(origin, end), lstm, recursion_before))
        weight, facts = blend_on_folds(folds, series.dates)
        refits: list[dict[str, list[float]]] = []
        if bool(hparams["refit"]):
            everything, _ = member_windows(
                values[:test_start], int(hparams["member_window"]), horizon, test_start
            )
            lstm, refits = refit_members(hparams, options, strategy, everything, histories)
        coefficients = sarima_coefficients(values[:test_start])
        with strategy.scope():
            recursion = build_sarima_recursion(window, horizon, coefficients, SEASON)
            model = build_hybrid_forecaster(recursion, lstm, weight)
        logger.info("validation: %s", facts)
        split = SeriesSplit(values, test_start, series.source, series.checksum, series.dates)
        trained = Trained(
            recipe, hparams, model, histories[0], facts["mae_1_step"], FitContext(split, histories)
        )
        trained.extra["training"] = {
            "validation": {
                "months": f"{series.dates[origins[0]]}..{series.dates[test_start - 1]}",
                "count": facts.pop("count"),
                "sarima_coefficients_before_last_fold": [round(c, 4) for c in early],
                **facts,
            },
            "refit_history": {f"lstm_{i}": h for i, h in enumerate(refits, start=1)},
            "sarima_coefficients": {
                name: round(c, 4)
                for name, c in zip(("ar", "ma", "seasonal_ma"), coefficients, strict=True)
            },
        }
        return trained

    def export(self, trained: Trained, options: RunOptions, chief: bool) -> RunResult:
        context: FitContext = trained.context
        split = context.split
        window, horizon = int(trained.hparams["window"]), int(trained.hparams["horizon"])
        name = options.name or trained.recipe.name
        serving = forecaster_serving_model(trained.model)
        models_dir = options.models_dir if chief else options.work_dir / "non_chief_exports"
        with staged_version(models_dir, name) as staged:
            export_saved_model(
                serving, staged.staging, [tf.TensorSpec([None, window], tf.float32, name="series")]
            )
            metrics, one_step = evaluate_forecaster(
                staged.staging, split.values, split.test_start, window, horizon
            )
            histories = context.member_histories
            metrics["validation_mae_1_step"] = round(trained.validation_score, 4)
            metrics["lstm_best_val_loss"] = [round(min(h["val_loss"]), 4) for h in histories]
            metrics["epochs_trained"] = [len(h["loss"]) for h in histories]
            save_plots(staged.staging, histories, split, one_step)
            write_card(
                staged.staging,
                forecaster_card(name, staged.version, trained, serving, context, metrics, options),
            )
        logger.info("exported %s: %s", staged.target, metrics)
        return RunResult(name, staged.target if chief else None, metrics, trained.hparams)


def forecaster_card(
    name: str,
    version: int,
    trained: Trained,
    serving: keras.Model,
    context: FitContext,
    metrics: dict[str, Any],
    options: RunOptions,
) -> dict[str, Any]:
    window, horizon = int(trained.hparams["window"]), int(trained.hparams["horizon"])
    split = context.split
    training = training_facts(trained, options)
    training["history"] = {
        f"lstm_{index}": history for index, history in enumerate(context.member_histories, 1)
    }
    return build_card(
        name=name,
        version=version,
        task="forecast",
        model=trained.model,
        serving_model=serving,
        labels=[],
        preprocessing=(
            f"float32 raw monthly CO2 values in ppm, the last {window} months in time order; "
            "normalisation happens inside the model"
        ),
        metrics=metrics,
        data={
            "dataset": "co2",
            "source": split.source,
            "checksum": split.checksum,
            "frequency": "monthly (weekly means resampled, gaps interpolated)",
            "split": {
                "kind": "chronological",
                "test_months": len(split.values) - split.test_start,
                "test_from": str(split.dates[split.test_start]),
                "validation": (
                    f"rolling origins: the last {trained.hparams['validation_folds']} spans of "
                    f"{trained.hparams['validation_months']} training months, LSTMs and "
                    "recursion fitted afresh on the months before each; the LSTMs' early "
                    "stopping, and the blend weight on all spans together; the last span's "
                    "LSTMs are exported"
                    + (
                        "; the LSTMs then refitted on all of them"
                        if trained.hparams["refit"]
                        else ""
                    )
                ),
            },
        },
        training=training,
        task_params={"window": window, "horizon": horizon, "unit": "ppm", "frequency": "monthly"},
        plots=["learning_curves.png", "forecast_vs_actual.png"],
        # The forecast is a recursion over the window: XLA compiles the loop that
        # TensorFlow would dispatch op by op (46 -> 3.6 ms a call for co2_lstm/2).
        runtime="xla",
    )


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


def save_plots(
    directory: Path,
    histories: list[dict[str, list[float]]],
    split: SeriesSplit,
    one_step: NDArray[np.float32],
) -> None:
    losses = {
        f"{prefix}lstm_{index}_loss": history[f"{prefix}loss"]
        for index, history in enumerate(histories, start=1)
        for prefix in ("", "val_")
    }
    plots.learning_curves(losses, directory / "learning_curves.png")
    context = split.values[max(0, split.test_start - 120) : split.test_start]
    plots.forecast_plot(
        context,
        split.values[split.test_start :],
        one_step,
        directory / "forecast_vs_actual.png",
        "CO2 (ppm): 1-step-ahead forecasts over the held-out months",
    )
