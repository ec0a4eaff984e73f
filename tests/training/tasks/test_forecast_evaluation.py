"""The SARIMA baseline the forecaster's evaluation fits for itself."""

import numpy as np
import pytest
from numpy.typing import NDArray

from training.tasks.forecast_evaluation import sarima_one_step


def seasonal_series(months: int, seed: int = 0) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    wave = 3 * np.sin(2 * np.pi * t / 12)
    series: NDArray[np.float32] = (315 + 0.1 * t + wave + rng.normal(0, 0.2, months)).astype(
        np.float32
    )
    return series


def test_sarima_baseline_never_sees_the_test_months():
    values = seasonal_series(120)
    changed = values.copy()
    changed[100:] += np.linspace(0, 5, 20, dtype=np.float32)
    original, altered = sarima_one_step(values, 100), sarima_one_step(changed, 100)
    assert original.shape == (20,)
    # Month 100's forecast uses months < 100 only, and the fitted parameters are the same.
    assert altered[0] == pytest.approx(original[0])
    # Later months follow what was observed before them, with the same parameters.
    assert altered[-1] > original[-1] + 2
    assert np.abs(original - values[100:]).mean() < 0.5
