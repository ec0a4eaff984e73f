"""Forecasters and generators bound at load: the card's task_params first, then the signature."""

import pytest

from service.card import parse_card
from service.runtime.spec import SpecError, resolve_spec
from service.runtime.tensors import TensorInfo

SERIES = {"series": TensorInfo("float32", (None, 36))}
FORECAST = {"forecast": TensorInfo("float32", (None, 12))}
GENERATOR_IN = {"noise": TensorInfo("float32", (None, 64)), "labels": TensorInfo("int32", (None,))}
IMAGES = {"images": TensorInfo("float32", (None, 28, 28, 1))}


def resolve(card, inputs, outputs):
    return resolve_spec(parse_card(card), "serve", inputs, outputs)


def test_a_forecaster_takes_window_and_horizon_from_the_signature_unless_the_card_says():
    spec = resolve({"task": "forecast"}, SERIES, FORECAST)
    assert spec.forecast is not None and spec.generate is None and spec.classify is None
    assert (spec.forecast.input, spec.forecast.output) == ("series", "forecast")
    assert (spec.forecast.window, spec.forecast.horizon) == (36, 12)
    card = {"task": "forecast", "task_params": {"window": 24, "horizon": 6}}
    said = resolve(card, SERIES, FORECAST).forecast
    assert said is not None and (said.window, said.horizon) == (24, 6)


def test_a_forecaster_reads_its_forecast_output_else_its_first():
    two = {"level": TensorInfo("float32", (None, 3)), "forecast": TensorInfo("float32", (None, 3))}
    assert resolve({"task": "forecast"}, SERIES, two).forecast.output == "forecast"
    other = {"y": TensorInfo("float32", (None, 3))}
    assert resolve({"task": "forecast"}, SERIES, other).forecast.output == "y"


def test_a_forecaster_with_an_open_window_and_no_card_value_is_refused_at_load():
    open_series = {"series": TensorInfo("float32", (None, None))}
    with pytest.raises(SpecError, match=r"card says forecast, but .*task_params\.window"):
        resolve({"task": "forecast"}, open_series, FORECAST)
    card = {"task": "forecast", "task_params": {"window": 10}}
    assert resolve(card, open_series, FORECAST).forecast.window == 10


def test_a_generator_binds_noise_labels_and_images():
    card = {"task": "generate", "labels": [str(d) for d in range(10)]}
    binding = resolve(card, GENERATOR_IN, IMAGES).generate
    assert binding is not None
    assert (binding.noise, binding.labels, binding.output) == ("noise", "labels", "images")
    assert (binding.latent_dim, binding.num_classes) == (64, 10)
    params = {"task": "generate", "task_params": {"latent_dim": 64, "num_classes": 3}}
    assert resolve(params, GENERATOR_IN, IMAGES).generate.num_classes == 3


def test_a_generator_without_its_inputs_or_class_count_is_refused_at_load():
    with pytest.raises(SpecError, match="takes inputs 'noise' and 'labels'"):
        resolve({"task": "generate", "labels": ["a"]}, SERIES, IMAGES)
    with pytest.raises(SpecError, match="num_classes"):
        resolve({"task": "generate"}, GENERATOR_IN, IMAGES)
