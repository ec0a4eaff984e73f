"""The LSTM members of the CO2 forecaster: their windows, scales, fitting and refitting.

Members are fitted one after another and differ only by the random state they
start from; :func:`fit_members` returns them as one averaging model.
"""

import logging

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from training.callbacks import standard_callbacks
from training.datasets import make_windows
from training.models.forecaster import (
    build_forecast_ensemble,
    build_lstm_forecaster,
    build_seasonal_lstm_forecaster,
)
from training.multiworker import is_multiworker, prepare_multiworker_fit
from training.recipes import HParams, Recipe
from training.run import RunOptions, history_lists

logger = logging.getLogger(__name__)
SEASON = 12


def member_windows(
    train: NDArray[np.float32], window: int, horizon: int, validation_start: int
) -> tuple[
    tuple[NDArray[np.float32], NDArray[np.float32]], tuple[NDArray[np.float32], NDArray[np.float32]]
]:
    """Chronological windows: training ones forecast only months before
    ``validation_start``, validation ones only months from it on."""
    x, y = make_windows(train, window, horizon)
    first_target = np.arange(len(x)) + window
    fit = first_target + horizon <= validation_start
    held = first_target >= validation_start
    return (x[fit], y[fit]), (x[held], y[held])


def window_scale(x: NDArray[np.float32]) -> float:
    """Spread of values around each window's last value: the model's fixed input scale."""
    return float(np.std(x - x[:, -1:])) or 1.0


def step_deviation_scale(x: NDArray[np.float32], season: int = SEASON) -> float:
    """Spread of month-to-month steps around each window's seasonal mean step profile."""
    years = (x.shape[1] - 1) // season
    steps = np.diff(x, axis=1)[:, -years * season :].reshape(len(x), years, season)
    return float(np.std(steps - steps.mean(axis=1, keepdims=True))) or 1.0


def build_member(hparams: HParams, x_train: NDArray[np.float32], name: str) -> keras.Model:
    """One LSTM as the recipe says: on per-window levels, or correcting seasonal steps."""
    window, horizon = int(hparams["member_window"]), int(hparams["horizon"])
    units, dropout = int(hparams["units"]), float(hparams["dropout"])
    kind = str(hparams["member"])
    if kind == "level":
        scale = window_scale(x_train)
        return build_lstm_forecaster(window, horizon, scale, units, dropout, name=name)
    if kind == "seasonal":
        scale = step_deviation_scale(x_train)
        return build_seasonal_lstm_forecaster(
            window, horizon, scale, units, dropout, SEASON, name=name
        )
    raise ValueError(f"unknown member {kind!r}: use level or seasonal")


def compiled_member(
    hparams: HParams,
    x_train: NDArray[np.float32],
    index: int,
    options: RunOptions,
    strategy: tf.distribute.Strategy,
) -> keras.Model:
    """Member ``index``, built and compiled for fitting (MSE, Adam at the recipe's rate)."""
    with strategy.scope():
        model = build_member(hparams, x_train, name=f"lstm_{index}")
        model.compile(
            optimizer=keras.optimizers.Adam(float(hparams["lr"])),
            loss="mse",
            metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
            jit_compile=options.xla,
        )
    return model


def fit_member(
    index: int,
    recipe: Recipe,
    hparams: HParams,
    options: RunOptions,
    strategy: tf.distribute.Strategy,
    train: tuple[NDArray[np.float32], NDArray[np.float32]],
    validation: tuple[NDArray[np.float32], NDArray[np.float32]],
) -> tuple[keras.Model, dict[str, list[float]]]:
    """One LSTM of the ensemble; members differ by the random state they start from."""
    x_train, y_train = train
    model = compiled_member(hparams, x_train, index, options, strategy)
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
            options.work_dir / recipe.name / f"lstm_{index}",
            int(hparams["patience"]),
            str(hparams["schedule"]),
            epochs,
        ),
        verbose=options.verbose,
    )
    history = history_lists(fitted)
    logger.info("LSTM %d: best validation loss %.4f", index, min(history["val_loss"]))
    return model, history


def fit_members(
    recipe: Recipe,
    hparams: HParams,
    options: RunOptions,
    strategy: tf.distribute.Strategy,
    train: tuple[NDArray[np.float32], NDArray[np.float32]],
    validation: tuple[NDArray[np.float32], NDArray[np.float32]],
) -> tuple[keras.Model, list[dict[str, list[float]]]]:
    """The recipe's ``members`` LSTMs, fitted in turn, as one averaging model."""
    members, histories = [], []
    for index in range(1, int(hparams["members"]) + 1):
        member, history = fit_member(index, recipe, hparams, options, strategy, train, validation)
        members.append(member)
        histories.append(history)
    with strategy.scope():
        return build_forecast_ensemble(members, name="lstm_ensemble"), histories


def refit_members(
    hparams: HParams,
    options: RunOptions,
    strategy: tf.distribute.Strategy,
    train: tuple[NDArray[np.float32], NDArray[np.float32]],
    histories: list[dict[str, list[float]]],
) -> tuple[keras.Model, list[dict[str, list[float]]]]:
    """Each member again on all training months (validation months included), for as
    many epochs as its best validation epoch, replaying that run's learning rates.

    The validation months are the five years just before the test part; without
    this the LSTMs would never see them, while the recursion's coefficients do.
    """
    x_train, y_train = train
    members, refits = [], []
    for index, history in enumerate(histories, start=1):
        epochs = int(np.argmin(history["val_loss"])) + 1
        rates = history.get("learning_rate", [float(hparams["lr"])] * epochs)[:epochs]
        model = compiled_member(hparams, x_train, index, options, strategy)
        fitted = model.fit(
            x_train,
            y_train,
            batch_size=int(hparams["batch_size"]),
            epochs=epochs,
            shuffle=True,
            callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch, _, r=rates: r[epoch])],
            verbose=options.verbose,
        )
        members.append(model)
        refits.append(history_lists(fitted))
        logger.info("LSTM %d refitted on all training months for %d epochs", index, epochs)
    with strategy.scope():
        return build_forecast_ensemble(members, name="lstm_ensemble"), refits
