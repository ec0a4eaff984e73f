"""Forecasting: a series in, the next values out, for any model bound as a forecaster.

The model reads the last `window` values and forecasts `horizon` steps (both bound
when the version loaded, `service.runtime.bindings`). Longer horizons, up to the
service's limit, are forecast recursively: each forecast is appended to the series
and fed back in, so errors compound; the answer says so (`recursive`).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.errors import TaskRequestError, WrongTaskError
from service.ports import Model
from service.runtime.bindings import ForecastBinding


@dataclass(frozen=True)
class ForecastLimits:
    max_series_length: int
    max_horizon: int


@dataclass(frozen=True)
class Forecast:
    values: list[float]
    window: int  # values of the series the model read
    model_horizon: int  # values one call forecasts

    @property
    def recursive(self) -> bool:
        return len(self.values) > self.model_horizon


def binding_of(model: Model) -> ForecastBinding:
    binding = model.spec.forecast
    if binding is None:
        raise WrongTaskError(f"model {model.name!r} is a {model.task} model, not a forecaster")
    return binding


async def forecast(
    model: Model, series: Sequence[float], steps: int | None, limits: ForecastLimits
) -> Forecast:
    """`steps` values after ``series`` (one call's horizon when None)."""
    if len(series) > limits.max_series_length:
        raise TaskRequestError(f"series may hold at most {limits.max_series_length} values")
    binding = binding_of(model)
    steps = steps or binding.horizon
    if steps > limits.max_horizon:
        raise TaskRequestError(f"horizon must be at most {limits.max_horizon}")
    if len(series) < binding.window:
        raise TaskRequestError(
            f"series has {len(series)} values; model {model.name!r} needs at least {binding.window}"
        )
    with np.errstate(over="ignore"):  # Values beyond float32 become inf, refused below.
        history = np.asarray(series[-binding.window :], dtype=np.float32)
    if not np.isfinite(history).all():
        raise TaskRequestError("series values must fit in float32 (|x| < 3.4e38)")
    values = await _recursive(model, binding, history, steps)
    return Forecast(values, binding.window, binding.horizon)


async def _recursive(
    model: Model, binding: ForecastBinding, history: NDArray[np.float32], steps: int
) -> list[float]:
    """Calls the model ceil(steps / horizon) times, feeding each forecast back in."""
    values: list[NDArray[Any]] = []
    current = history
    for _ in range(math.ceil(steps / binding.horizon)):
        outputs = await model.infer({binding.input: current[np.newaxis, :]})
        step = np.asarray(outputs[binding.output][0], dtype=np.float32).reshape(-1)
        values.append(step[: binding.horizon])
        current = np.concatenate([current, values[-1]])[-binding.window :]
    return [float(value) for value in np.concatenate(values)[:steps]]
