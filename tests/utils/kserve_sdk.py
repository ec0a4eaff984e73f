"""A venv holding only the KServe Python SDK, built once per machine.

`kserve` pins `pandas<3` and `protobuf<7`, and its V2 protos define the same
`inference.*` symbols as tritonclient's, so it can share neither the project's venv nor
a process with the service: tests run its clients in a subprocess of this venv.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

KSERVE = "kserve==0.21.0"


def kserve_venv_python(request: pytest.FixtureRequest) -> Path:
    """The venv's Python, under pytest's cache with a `.ok` marker as `bench/envs.py`
    does (so an interrupted install is redone); skips the test if it cannot install."""
    cache = request.config.cache
    base = (
        cache.mkdir("kserve-sdk")
        if cache is not None
        else request.getfixturevalue("tmp_path_factory").mktemp("kserve-sdk")
    )
    root = base / KSERVE.replace("==", "-")
    python = root / "bin" / "python"
    if (root / ".ok").exists():
        return python
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(root)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", KSERVE],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip(f"could not install {KSERVE} into its own venv: {done.stderr[-800:]}")
    (root / ".ok").touch()
    return python
