"""`POST /v1/sequence/predict` (alias `POST /sequence/predict`): the next values of a time series.

The model reads the last `window` values and forecasts `model_horizon` steps. Longer
horizons (up to the `max_horizon` setting) are forecast recursively: each forecast is
appended to the series and fed back in, so errors compound; the answer says so.
"""

import math
from typing import Any

import numpy as np
from fastapi import APIRouter
from numpy.typing import NDArray

from service.api.deps import ResolverDep, SettingsDep
from service.errors import InvalidRequestError
from service.ports import Model
from service.schemas import SequenceRequest, SequenceResponse

router = APIRouter(tags=["inference"])


def _task_param(model: Model, key: str, fallback: int | None) -> int:
    params = model.card.get("task_params", {})
    value = params.get(key) if isinstance(params, dict) else None
    if value is None:
        value = fallback
    if value is None:
        raise InvalidRequestError(f"model {model.name!r} does not declare its {key}")
    return int(value)


def window_and_horizon(model: Model) -> tuple[int, int]:
    """The model's input window and output horizon (card first, then the signature)."""
    series = next(iter(model.inputs.values()))
    forecast = next(iter(model.outputs.values()))
    window = _task_param(model, "window", series.shape[-1])
    horizon = _task_param(model, "horizon", forecast.shape[-1])
    return window, horizon


async def forecast(
    model: Model, history: NDArray[np.float32], steps: int, horizon: int
) -> list[float]:
    """`steps` values ahead, calling the model ceil(steps / horizon) times."""
    input_name = next(iter(model.inputs))
    output_name = "forecast" if "forecast" in model.outputs else next(iter(model.outputs))
    window = history.shape[0]
    values: list[NDArray[Any]] = []
    current = history
    for _ in range(math.ceil(steps / horizon)):
        outputs = await model.infer({input_name: current[np.newaxis, :]})
        step = np.asarray(outputs[output_name][0], dtype=np.float32).reshape(-1)[:horizon]
        values.append(step)
        current = np.concatenate([current, step])[-window:]
    return [float(value) for value in np.concatenate(values)[:steps]]


@router.post(
    "/sequence/predict",
    summary="Forecast a series (alias of POST /v1/sequence/predict)",
    description="Exactly `POST /v1/sequence/predict`, under the name the README uses.",
    operation_id="sequence_predict_alias",
)
@router.post(
    "/v1/sequence/predict",
    summary="Forecast the next values of a series",
    operation_id="sequence_predict",
)
async def predict_sequence(
    body: SequenceRequest, resolver: ResolverDep, settings: SettingsDep
) -> SequenceResponse:
    """Forecast `horizon` steps from the last `window` values of `series`."""
    if len(body.series) > settings.max_series_length:
        raise InvalidRequestError(f"series may hold at most {settings.max_series_length} values")
    model = resolver.get_for_task(body.model, body.version, "forecast")
    window, model_horizon = window_and_horizon(model)
    steps = body.horizon or model_horizon
    if steps > settings.max_horizon:
        raise InvalidRequestError(f"horizon must be at most {settings.max_horizon}")
    if len(body.series) < window:
        raise InvalidRequestError(
            f"series has {len(body.series)} values; model {model.name!r} needs at least {window}"
        )
    with np.errstate(over="ignore"):  # Values beyond float32 become inf, refused below.
        history = np.asarray(body.series[-window:], dtype=np.float32)
    if not np.isfinite(history).all():
        raise InvalidRequestError("series values must fit in float32 (|x| < 3.4e38)")
    values = await forecast(model, history, steps, model_horizon)
    return SequenceResponse(
        model=model.name,
        version=model.version,
        window=window,
        horizon=steps,
        model_horizon=model_horizon,
        recursive=steps > model_horizon,
        forecast=values,
    )
