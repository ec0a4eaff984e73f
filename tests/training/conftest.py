"""Fixtures for the training tests; helpers live in `tests/utils/training.py`."""

import pytest


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """A private, empty dataset cache: the tiny runs read the committed IDX fixture."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("KERASSERVE_CACHE", str(cache))
    return cache
