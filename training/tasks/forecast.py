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

from service.card import ModelCard, TaskParams
from training import plots
from training.card import build_card, write_card
from training.datasets import load_co2
from training.export import export_saved_model, forecaster_serving_model, staged_version
from training.models.forecaster import build_hybrid_forecaster, build_sarima_recursion
from training.recipes import HParams, Recipe
from training.run import RunOptions, RunResult, Trained, training_facts
from training.tasks.forecast_evaluation import evaluate_forecaster, sarima_coefficients
from training.tasks.forecast_members import SEASON, fit_members, member_windows, refit_members
from training.tasks.forecast_validation import blend_on_folds, fold_forecasts, fold_origins

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class FitContext:
    """What export needs beyond the model: the series split and each member's curves."""

    split: SeriesSplit
    member_histories: list[dict[str, list[float]]]


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
) -> ModelCard:
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
        task_params=TaskParams(window=window, horizon=horizon, unit="ppm", frequency="monthly"),
        plots=["learning_curves.png", "forecast_vs_actual.png"],
        # The forecast is a recursion over the window: XLA compiles the loop that
        # TensorFlow would dispatch op by op (46 -> 3.6 ms a call for co2_lstm/2).
        runtime="xla",
    )


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
