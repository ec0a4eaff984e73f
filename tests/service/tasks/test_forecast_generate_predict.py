"""The forecast, generate and predict tasks, called with plain Python values (no HTTP)."""

import asyncio

import numpy as np
import pytest

from service.errors import TaskRequestError, WrongTaskError
from service.tasks.forecast import ForecastLimits, forecast
from service.tasks.generate import draw_inputs, generate
from service.tasks.predict import predict
from tests.fakes.models import fake_classifier, fake_forecaster, fake_generator
from tests.service.api.util import png_bytes

LIMITS = ForecastLimits(max_series_length=100, max_horizon=10)


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_forecast_longer_than_the_model_horizon_feeds_its_own_values_back():
    model = fake_forecaster()  # window 4, horizon 3
    answer = run(forecast(model, [1.0, 2.0, 3.0, 4.0, 5.0], 7, LIMITS))
    assert len(answer.values) == 7 and answer.recursive
    assert (answer.window, answer.model_horizon) == (4, 3)
    assert len(model.calls) == 3  # ceil(7 / 3)
    np.testing.assert_array_equal(model.calls[0]["series"], [[2.0, 3.0, 4.0, 5.0]])
    fed_back = np.concatenate([[5.0], answer.values[:3]]).astype(np.float32)
    np.testing.assert_array_equal(model.calls[1]["series"][0], fed_back)
    one_call = run(forecast(fake_forecaster(), [1.0, 2.0, 3.0, 4.0], None, LIMITS))
    assert len(one_call.values) == 3 and not one_call.recursive


@pytest.mark.parametrize(
    ("series", "steps", "message"),
    [
        ([1.0] * 101, None, "at most 100 values"),
        ([1.0] * 4, 11, "horizon must be at most 10"),
        ([1.0] * 3, None, "needs at least 4"),
        ([1.0, 2.0, 3.0, 1e39], None, "fit in float32"),
    ],
)
def test_forecast_requests_that_do_not_fit_are_refused(series, steps, message):
    with pytest.raises(TaskRequestError, match=message):
        run(forecast(fake_forecaster(), series, steps, LIMITS))


def test_each_task_refuses_a_model_of_another_task():
    with pytest.raises(WrongTaskError, match="not a forecaster"):
        run(forecast(fake_generator(), [1.0] * 4, None, LIMITS))
    with pytest.raises(WrongTaskError, match="not a generator"):
        run(generate(fake_forecaster(), 2, label=None, seed=1, max_count=8))


def test_the_same_seed_gives_the_same_images_and_labels():
    first = run(generate(fake_generator(), 4, label=None, seed=7, max_count=8))
    again = run(generate(fake_generator(), 4, label=None, seed=7, max_count=8))
    assert first.seed == 7 and first.pixels.dtype == np.uint8
    assert first.pixels.shape == (4, 28, 28)  # one channel squeezed, as to_uint8 does
    np.testing.assert_array_equal(first.pixels, again.pixels)
    np.testing.assert_array_equal(first.labels, draw_inputs(7, 4, 8, 10, None)[1])
    fixed = run(generate(fake_generator(), 3, label=5, seed=None, max_count=8))
    assert fixed.labels.tolist() == [5, 5, 5] and 0 <= fixed.seed < 2**32


def test_generate_refuses_too_many_images_or_an_unknown_class():
    with pytest.raises(TaskRequestError, match="at most 8"):
        run(generate(fake_generator(), 9, label=None, seed=1, max_count=8))
    with pytest.raises(TaskRequestError, match=r"label must be in \[0, 9\]"):
        run(generate(fake_generator(), 1, label=10, seed=1, max_count=8))


def test_predict_runs_tensors_as_they_are_and_images_through_the_model_preprocessing():
    model = fake_forecaster()
    series = np.ones((2, 4), np.float32)
    outputs = run(predict(model, {"series": series}, max_pixels=10_000))
    assert outputs["forecast"].shape == (2, 3)
    classifier = fake_classifier()
    scores = run(predict(classifier, {}, [png_bytes(), png_bytes()], max_pixels=10_000))
    assert next(iter(scores.values())).shape[0] == 2
    (fed,) = classifier.calls
    assert next(iter(fed.values())).shape[1:] == (28, 28, 1)
