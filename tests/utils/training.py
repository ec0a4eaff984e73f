"""Helpers for the training tests: paths, the real command line, the card as written."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from training.card import read_card

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
TEST_DATA = REPO / "tests" / "data"
IDX_FIXTURE = TEST_DATA / "idx"
NPM_FIXTURES = TEST_DATA / "npm"


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


def card_json(version_dir: Path) -> dict[str, Any]:
    """The version's card as JSON, read through the typed card: what the tests assert on
    is the on-disk format."""
    return read_card(version_dir).to_json()
