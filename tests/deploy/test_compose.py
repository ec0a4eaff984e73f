"""The compose files: `docker-compose config -q` when installed, and the settings the
stack relies on, read straight from the YAML."""

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import ROOT, require_tool

COMPOSE = ROOT / "docker-compose.yml"
GPU = ROOT / "docker-compose.gpu.yml"
E2E = ROOT / "deploy" / "e2e" / "docker-compose.e2e.yml"


@pytest.mark.parametrize(
    "files", [[COMPOSE], [COMPOSE, GPU], [COMPOSE, E2E]], ids=["base", "gpu", "e2e"]
)
def test_docker_compose_config(files: list[Path]):
    tool = require_tool("docker-compose", "apt-get install docker-compose")
    args = [arg for f in files for arg in ("-f", str(f))]
    result = subprocess.run(
        [tool, *args, "config", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def test_ports_bind_to_localhost_by_default():
    for name, service in _services().items():
        for port in service["ports"]:
            assert port.startswith("${BIND_ADDRESS:-127.0.0.1}:"), (name, port)


def test_api_stops_gracefully_and_serves_models_read_only():
    api = _services()["api"]
    drain = float(api["environment"]["KERASSERVE_DRAIN_TIMEOUT_S"])
    assert float(api["stop_grace_period"].removesuffix("s")) > drain
    assert "./models:/models:ro" in api["volumes"]
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert api["restart"] == "unless-stopped"
    assert api["deploy"]["resources"]["limits"]["memory"]


def test_prometheus_mounts_existing_files_and_waits_for_a_healthy_api():
    prometheus = _services()["prometheus"]
    for volume in prometheus["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), source
    assert prometheus["depends_on"]["api"]["condition"] == "service_healthy"


def test_gpu_override_reserves_an_nvidia_device():
    api = yaml.safe_load(GPU.read_text())["services"]["api"]
    (device,) = api["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "and-cuda" in api["build"]["args"]["TF_PACKAGE"]
