"""`KERASSERVE_API_KEY` set in the shell reaches the stack's API service, in every
compose profile, and the service so configured refuses inference without the key.

The container run itself (the built image, compose up, 401 without the key) is in
scripts/container_e2e.sh, which CI runs; here the service gets exactly the environment
compose renders for it, started as a local process (no image build: seconds, not
minutes).
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.conftest import ROOT, require_tool
from tests.service.api.live import free_port, wait_ready

KEY = "stack-secret-26"
PROFILES = {
    "base": ["docker-compose.yml"],
    "gpu": ["docker-compose.yml", "docker-compose.gpu.yml"],
    "scale": ["docker-compose.yml", "docker-compose.scale.yml"],
}


def rendered_api_environment(files: list[str], api_key: str | None) -> dict[str, str]:
    """The api service's environment as `docker-compose config` renders it."""
    tool = require_tool("docker-compose", "apt-get install docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASSERVE_")}
    if api_key is not None:
        env["KERASSERVE_API_KEY"] = api_key
    if "docker-compose.scale.yml" in files:
        env.update(API_PORT="8001-8012", GRPC_PORT="8501-8512")
    args = [arg for name in files for arg in ("-f", name)]
    result = subprocess.run(
        [tool, *args, "config"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    environment = config["services"]["api"]["environment"]
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_the_shell_key_reaches_the_api_service(profile: str):
    assert rendered_api_environment(PROFILES[profile], KEY)["KERASSERVE_API_KEY"] == KEY
    # Unset, the variable is empty, which the service reads as "no key".
    assert rendered_api_environment(PROFILES[profile], None)["KERASSERVE_API_KEY"] == ""


@pytest.mark.slow
def test_the_stack_service_refuses_requests_without_the_key():
    """The environment compose renders for the scale profile's replicas, on the committed
    zoo's smallest model and a free port: 401 without the key, 200 with it, probes open."""
    rendered = rendered_api_environment(PROFILES["scale"], KEY)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASSERVE_")}
    env.update(rendered)
    env.update(
        KERASSERVE_HOST="127.0.0.1",
        KERASSERVE_PORT=str(port),
        KERASSERVE_MODELS_DIR=str(ROOT / "models"),
        KERASSERVE_MODEL_NAMES="fashion_mlp",
        KERASSERVE_GRPC_PORT="0",
        KERASSERVE_LOG_FORMAT="text",
    )
    command = [str(Path(sys.executable).with_name("kerasserve")), "serve"]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        with httpx.Client(base_url=url, timeout=10) as http:
            refused = http.get("/v1/models")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            wrong = http.get("/v1/models", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            allowed = http.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"})
            assert allowed.status_code == 200
            assert http.get("/readyz").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=60)
