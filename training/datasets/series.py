"""The Mauna Loa CO2 series and helpers that turn a series into supervised windows.

The data ships inside statsmodels, so the forecaster trains without the network.
"""

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

CO2_SOURCE = "statsmodels.datasets.co2"


@dataclass(frozen=True, eq=False)
class Series:
    """A regularly spaced univariate series; ``dates`` are month starts (``datetime64[M]``)."""

    values: NDArray[np.float32]
    dates: NDArray[np.datetime64]
    source: str
    checksum: str
    frequency: Literal["monthly"]

    def __len__(self) -> int:
        return int(self.values.shape[0])


def load_co2() -> Series:
    """Monthly mean CO2 (ppm) from March 1958; gaps in the weekly record are interpolated."""
    # Imported here: statsmodels is a training extra, slow to import, and unused by serving.
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"]
    # "MS": one value per month, stamped on its first day.
    monthly = weekly.resample("MS").mean().interpolate(method="linear", limit_direction="both")
    values = monthly.to_numpy(dtype=np.float32)
    if np.isnan(values).any():
        raise ValueError("CO2 series still has gaps after interpolation")
    dates = monthly.index.to_numpy().astype("datetime64[M]")
    return Series(
        values=values,
        dates=dates,
        source=CO2_SOURCE,
        checksum=hashlib.sha256(values.tobytes()).hexdigest(),
        frequency="monthly",
    )


def make_windows(
    values: ArrayLike, window: int, horizon: int, stride: int = 1
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Inputs ``[M, window]`` and targets ``[M, horizon]``: the values right after each window."""
    series = _as_1d(values)
    if window < 1 or horizon < 1 or stride < 1:
        raise ValueError(
            f"window, horizon and stride must be >= 1, got {window}, {horizon}, {stride}"
        )
    span = window + horizon
    if series.shape[0] < span:
        raise ValueError(
            f"series of length {series.shape[0]} is shorter than window + horizon = {span}"
        )
    frames = sliding_window_view(series, span)[::stride]
    inputs = np.ascontiguousarray(frames[:, :window])
    targets = np.ascontiguousarray(frames[:, window:])
    return inputs, targets


def train_test_split_series(
    values: ArrayLike, test_size: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Chronological split: the last ``test_size`` values are held out, never shuffled."""
    series = _as_1d(values)
    if not 0 < test_size < series.shape[0]:
        raise ValueError(f"test_size must be in 1..{series.shape[0] - 1}, got {test_size}")
    return series[:-test_size].copy(), series[-test_size:].copy()


def _as_1d(values: ArrayLike) -> NDArray[np.float32]:
    series = np.asarray(values, dtype=np.float32)
    if series.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {list(series.shape)}")
    return series
