"""Shared helpers for the training tests: run the real command line in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IDX_FIXTURE = REPO / "tests" / "data" / "idx"


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    """``python -m training ...`` as a user runs it; fails the test on a non-zero exit."""
    environment = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(REPO),
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"training {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}"
        )
    return result


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """A private, empty dataset cache: the tiny runs read the committed IDX fixture."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("KERASSERVE_CACHE", str(cache))
    return cache
