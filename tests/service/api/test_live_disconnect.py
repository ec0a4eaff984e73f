"""Clients that hang up on long generations cancel them: the model never runs that work."""

import shutil
import socket
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.config import Settings
from tests.service.api.live import serve_in_thread

pytestmark = pytest.mark.slow

GENERATOR = Path(__file__).resolve().parents[3] / "models" / "mnist_cgan"
CLIENTS = 32
ROWS = 64  # images per request: 2,048 rows queued, seconds of work on a CPU


def _scrape(url: str) -> dict[str, float]:
    """Rows the generator ran, and requests answered 499, so far."""
    figures = {"rows": 0.0, "closed": 0.0}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            if (
                sample.name == "kerasserve_batch_size_sum"
                and sample.labels["model"] == "mnist_cgan"
            ):
                figures["rows"] += sample.value
            if sample.name == "kerasserve_requests_total" and sample.labels["status"] == "499":
                figures["closed"] += sample.value
    return figures


def _settled(url: str, timeout_s: float = 60) -> dict[str, float]:
    """The figures once they stop changing: nothing is queued or running any more."""
    deadline = time.monotonic() + timeout_s
    last = _scrape(url)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = _scrape(url)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the server was still busy after {timeout_s} s: {last}")


def _hang_up_after_sending(host: str, port: int, seed: int) -> socket.socket:
    client = socket.create_connection((host, port))
    path = f"/v1/generate?model=mnist_cgan&n={ROWS}&seed={seed}"
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return client


def test_generations_abandoned_by_their_clients_are_cancelled(tmp_path):
    shutil.copytree(GENERATOR, tmp_path / "mnist_cgan")
    settings = Settings(models_dir=tmp_path, poll_interval_s=0, log_format="text")
    with serve_in_thread(settings) as live:
        host, port = live.host_port.split(":")
        before = _scrape(live.url)
        clients = [_hang_up_after_sending(host, int(port), seed) for seed in range(CLIENTS)]
        time.sleep(0.3)
        for client in clients:
            client.close()
        after = _settled(live.url)
        # Some requests may not even have been read before their sockets closed.
        assert after["closed"] - before["closed"] >= 1, "no hung-up request ended as 499"
        ran = after["rows"] - before["rows"]
        assert ran < CLIENTS * ROWS / 2, f"{ran:.0f} of {CLIENTS * ROWS} abandoned rows still ran"
        # The service goes on answering the clients that stay.
        answer = httpx.get(live.url + "/v1/generate?model=mnist_cgan&n=4&seed=1", timeout=60)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/png"
