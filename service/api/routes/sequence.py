"""`POST /v1/sequence/predict` (alias `POST /sequence/predict`): the next values of a time series.

The model reads the last `window` values and forecasts `model_horizon` steps; longer
horizons (up to the `max_horizon` setting) are forecast recursively, and the answer
says so (`service.tasks.forecast`).
"""

from fastapi import APIRouter

from service.api.deps import ResolverDep, RouteKeyDep, SettingsDep, VersionLabel
from service.api.schemas import SequenceRequest, SequenceResponse
from service.tasks.forecast import ForecastLimits, forecast

router = APIRouter(tags=["inference"])


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
    body: SequenceRequest,
    resolver: ResolverDep,
    settings: SettingsDep,
    version_label: VersionLabel = None,
    route_key: RouteKeyDep = None,
) -> SequenceResponse:
    """Forecast `horizon` steps from the last `window` values of `series`."""
    model = resolver.get_for_task(
        body.model, body.version, "forecast", label=version_label, route_key=route_key
    )
    limits = ForecastLimits(settings.max_series_length, settings.max_horizon)
    answer = await forecast(model, body.series, body.horizon, limits)
    return SequenceResponse(
        model=model.name,
        version=model.version,
        window=answer.window,
        horizon=len(answer.values),
        model_horizon=answer.model_horizon,
        recursive=answer.recursive,
        forecast=answer.values,
    )
