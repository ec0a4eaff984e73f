"""`make install` follows the extras: a new set installs, and cpu never joins gpu."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT, require_tool


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A virtualenv `make` takes as made, with the default extras installed."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(sys.executable)
    stamp = tmp_path / ".installed-cpu-train-serve-dev"
    stamp.touch()
    later = (ROOT / "pyproject.toml").stat().st_mtime + 60
    os.utime(stamp, (later, later))
    return tmp_path


def _make(venv: Path, extras: str, *flags: str) -> subprocess.CompletedProcess[str]:
    make = require_tool("make", "apt-get install make")
    command = [make, *flags, "install", f"VENV={venv}", f"EXTRAS={extras}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_installed_extras_install_nothing_more(venv):
    done = _make(venv, "cpu,train,serve,dev", "-n")
    assert done.returncode == 0 and "pip install" not in done.stdout


def test_other_extras_of_the_same_build_are_installed(venv):
    done = _make(venv, "cpu,serve", "-n")
    assert done.returncode == 0 and 'pip install --quiet -e ".[cpu,serve]"' in done.stdout


def test_the_gpu_build_is_refused_beside_the_cpu_build(venv):
    done = _make(venv, "gpu,serve")
    assert done.returncode != 0
    assert "holds TensorFlow's cpu build; run 'make clean'" in done.stdout
    assert not (venv / ".installed-gpu-serve").exists()
