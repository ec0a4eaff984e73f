"""Train the LSTM forecaster on monthly CO2, holding out the last months for testing."""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from training import plots
from training.callbacks import standard_callbacks
from training.card import build_card, write_card
from training.datasets import load_co2, make_windows
from training.evaluate import load_signature, run_batched
from training.export import export_saved_model, forecaster_serving_model, staged_version
from training.models import build_lstm_forecaster
from training.multiworker import is_multiworker, prepare_multiworker_fit
from training.recipes import HParams, Recipe
from training.run import RunOptions, RunResult, Trained, history_lists, training_facts

logger = logging.getLogger(__name__)
SEASON = 12
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


def training_windows(
    train: NDArray[np.float32], window: int, horizon: int, validation_fraction: float = 0.15
) -> tuple[
    tuple[NDArray[np.float32], NDArray[np.float32]], tuple[NDArray[np.float32], NDArray[np.float32]]
]:
    """Chronological train/validation windows: validation targets come last."""
    x, y = make_windows(train, window, horizon)
    cut = int(len(x) * (1 - validation_fraction))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def window_scale(x: NDArray[np.float32]) -> float:
    """Spread of values around each window's last value: the model's fixed input scale."""
    return float(np.std(x - x[:, -1:])) or 1.0


class ForecastTask:
    def fit(
        self,
        recipe: Recipe,
        hparams: HParams,
        options: RunOptions,
        strategy: tf.distribute.Strategy,
    ) -> Trained:
        series = load_co2()
        window, horizon = int(hparams["window"]), int(hparams["horizon"])
        test_start = split_series(series.values, window, int(hparams["test_months"]))
        (x_train, y_train), validation = training_windows(
            series.values[:test_start], window, horizon
        )
        if options.limit is not None:
            x_train, y_train = x_train[-options.limit :], y_train[-options.limit :]
        with strategy.scope():
            model = build_lstm_forecaster(
                window,
                horizon,
                window_scale(x_train),
                int(hparams["units"]),
                float(hparams["dropout"]),
            )
            model.compile(
                optimizer=keras.optimizers.Adam(float(hparams["lr"])),
                loss="mse",
                metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
                jit_compile=options.xla,
            )
        if is_multiworker(strategy):
            prepare_multiworker_fit(model, (x_train[:2], y_train[:2]))
        epochs = int(hparams["epochs"])
        fitted = model.fit(
            x_train,
            y_train,
            batch_size=int(hparams["batch_size"]),
            validation_data=validation,
            epochs=epochs,
            shuffle=True,
            callbacks=standard_callbacks(
                options.work_dir / recipe.name,
                int(hparams["patience"]),
                str(hparams["schedule"]),
                epochs,
            ),
            verbose=options.verbose,
        )
        history = history_lists(fitted)
        split = SeriesSplit(series.values, test_start, series.source, series.checksum, series.dates)
        return Trained(recipe, hparams, model, history, min(history["val_loss"]), split)

    def export(self, trained: Trained, options: RunOptions, chief: bool) -> RunResult:
        split: SeriesSplit = trained.context
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
            metrics["best_val_loss"] = round(trained.validation_score, 4)
            metrics["epochs_trained"] = len(trained.history["loss"])
            save_plots(staged.staging, trained.history, split, one_step)
            write_card(
                staged.staging,
                forecaster_card(name, staged.version, trained, serving, split, metrics, options),
            )
        logger.info("exported %s: %s", staged.target, metrics)
        return RunResult(name, staged.target if chief else None, metrics, trained.hparams)


def forecaster_card(
    name: str,
    version: int,
    trained: Trained,
    serving: keras.Model,
    split: SeriesSplit,
    metrics: dict[str, Any],
    options: RunOptions,
) -> dict[str, Any]:
    window, horizon = int(trained.hparams["window"]), int(trained.hparams["horizon"])
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
                "validation": "last 15% of training windows",
            },
        },
        training=training_facts(trained, options),
        task_params={"window": window, "horizon": horizon, "unit": "ppm", "frequency": "monthly"},
        plots=["learning_curves.png", "forecast_vs_actual.png"],
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
    # Imported here: statsmodels is slow to import and only this baseline needs it.
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    history = values.astype(np.float64)
    fitted = SARIMAX(
        history[:test_start], order=SARIMA_ORDER, seasonal_order=SARIMA_SEASONAL_ORDER
    ).fit(disp=False)
    rolling = fitted.apply(history)
    return np.asarray(rolling.predict(start=test_start, end=len(history) - 1))


def save_plots(
    directory: Path,
    history: dict[str, list[float]],
    split: SeriesSplit,
    one_step: NDArray[np.float32],
) -> None:
    plots.learning_curves(history, directory / "learning_curves.png")
    context = split.values[max(0, split.test_start - 120) : split.test_start]
    plots.forecast_plot(
        context,
        split.values[split.test_start :],
        one_step,
        directory / "forecast_vs_actual.png",
        "CO2 (ppm): 1-step-ahead forecasts over the held-out months",
    )
