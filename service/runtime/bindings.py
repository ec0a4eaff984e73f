"""How forecasters and generators are fed and read: resolved once, when a version loads.

The card's word first (`task_params`), then the signature: a forecaster reads its
first input's last `window` values and writes `horizon` values to its `forecast`
output (else its first); a generator takes `noise` [N, latent_dim] and `labels` [N]
and writes its `images` output (else its first). A card that asks for one of these
tasks on a model that cannot do it refuses the version, with the reason.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from service.card import ModelCard
from service.runtime.tensors import TensorInfo

NOISE_INPUT = "noise"
LABELS_INPUT = "labels"


class BindingError(ValueError):
    """The card's task cannot be bound to the signature; the message says why."""


@dataclass(frozen=True)
class ForecastBinding:
    input: str
    output: str
    window: int  # values the model reads
    horizon: int  # values one call forecasts


@dataclass(frozen=True)
class GenerateBinding:
    noise: str
    labels: str
    output: str
    latent_dim: int
    num_classes: int


def bind_forecaster(
    card: ModelCard, inputs: Mapping[str, TensorInfo], outputs: Mapping[str, TensorInfo]
) -> ForecastBinding:
    if not inputs or not outputs:
        raise BindingError("a forecaster needs an input series and a forecast output")
    series, forecast = next(iter(inputs)), _output(outputs, "forecast")
    params = card.task_params
    window = (params.window if params else None) or inputs[series].shape[-1]
    horizon = (params.horizon if params else None) or outputs[forecast].shape[-1]
    if window is None or horizon is None:
        key = "window" if window is None else "horizon"
        raise BindingError(f"the signature leaves the {key} open: give task_params.{key}")
    return ForecastBinding(series, forecast, window, horizon)


def bind_generator(
    card: ModelCard, inputs: Mapping[str, TensorInfo], outputs: Mapping[str, TensorInfo]
) -> GenerateBinding:
    missing = [name for name in (NOISE_INPUT, LABELS_INPUT) if name not in inputs]
    if missing or not outputs:
        raise BindingError(
            f"a generator takes inputs {NOISE_INPUT!r} and {LABELS_INPUT!r} and has an "
            f"output; this signature has inputs {sorted(inputs)} and outputs {sorted(outputs)}"
        )
    params = card.task_params
    latent = (params.latent_dim if params else None) or inputs[NOISE_INPUT].shape[-1]
    classes = (params.num_classes if params else None) or len(card.labels or ())
    if not latent or not classes:
        raise BindingError("a generator needs task_params latent_dim and num_classes (or labels)")
    return GenerateBinding(NOISE_INPUT, LABELS_INPUT, _output(outputs, "images"), latent, classes)


def _output(outputs: Mapping[str, TensorInfo], preferred: str) -> str:
    return preferred if preferred in outputs else next(iter(outputs))
