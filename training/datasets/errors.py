"""Errors raised while fetching, verifying and caching datasets.

    DatasetError
    ├── SourceError              one source could not deliver; the reason says why
    │   └── ChecksumMismatchError  the bytes arrived but are not the published ones
    └── DatasetUnavailableError  every source failed (also a RuntimeError)

Only ``DatasetUnavailableError`` leaves :func:`load_image_dataset`; a
``SourceError`` is recorded and the next source is tried.
"""


class DatasetError(Exception):
    """Base class for every dataset error."""


class SourceError(DatasetError):
    """One source could not deliver the dataset."""


class ChecksumMismatchError(SourceError):
    """Downloaded bytes do not match the published checksum."""


class DatasetUnavailableError(DatasetError, RuntimeError):
    """No source delivered the dataset; the message lists every attempt."""
