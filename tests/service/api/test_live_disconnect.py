"""Clients that hang up on long generations cancel them: the model never runs that work.

The generator is the zoo's own, re-exported with a fixed pause before each batch, so
the abandoned work outlasts the hang-up on any machine: the clients hang up once the
server reports their requests queued, not after a guess at how long the work takes.
"""

import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow.python.data.experimental.ops.testing import sleep as sleep_dataset

from service.config import Settings
from tests.service.api.live import serve_in_thread

pytestmark = pytest.mark.slow

GENERATOR = Path(__file__).resolve().parents[3] / "models" / "mnist_cgan" / "2"
CLIENTS = 32
ROWS = 64  # images per request: one batch each
PAUSE_S = 0.2  # per batch at least: 32 batches queued are seconds of work on any machine


def _slowed_generator(target: Path) -> None:
    """The zoo generator behind a ``PAUSE_S`` pause per call, with its card."""
    generator = tf.saved_model.load(str(GENERATOR))
    generate = generator.signatures["serving_default"]
    specs = generate.structured_input_signature[1]

    @tf.function(input_signature=[specs["noise"], specs["labels"]])  # type: ignore[untyped-decorator]
    def serve(noise: tf.Tensor, labels: tf.Tensor) -> Any:
        pause = tf.data.Dataset.range(1).apply(sleep_dataset(int(PAUSE_S * 1e6)))
        waited = pause.reduce(tf.constant(0, tf.int64), lambda total, x: total + x)
        with tf.control_dependencies([waited]):
            return generate(noise=tf.identity(noise), labels=tf.identity(labels))

    module = tf.Module()
    module.generator = generator  # tracked, so its variables are saved
    module.serve = serve
    tf.saved_model.save(module, str(target), signatures={"serving_default": serve})
    shutil.copy(GENERATOR / "model_card.json", target / "model_card.json")


def _scrape(url: str) -> dict[str, float]:
    """Rows the generator ran, rows queued, and requests answered 499, so far."""
    figures = {"rows": 0.0, "queued": 0.0, "closed": 0.0}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            ours = sample.labels.get("model") == "mnist_cgan"
            if sample.name == "kerasserve_batch_size_sum" and ours:
                figures["rows"] += sample.value
            if sample.name == "kerasserve_queue_depth" and ours:
                figures["queued"] += sample.value
            if sample.name == "kerasserve_requests_total" and sample.labels["status"] == "499":
                figures["closed"] += sample.value
    return figures


def _until(
    url: str, event: str, check: Callable[[dict[str, float]], bool], timeout_s: float = 60
) -> dict[str, float]:
    """The figures once ``check`` holds for them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        figures = _scrape(url)
        if check(figures):
            return figures
        time.sleep(0.02)
    raise AssertionError(f"{event} did not happen within {timeout_s} s: {_scrape(url)}")


def _settled(url: str, timeout_s: float = 60) -> dict[str, float]:
    """The figures once they stop changing: nothing is queued or running any more."""
    deadline = time.monotonic() + timeout_s
    last = _scrape(url)
    while time.monotonic() < deadline:
        time.sleep(2 * PAUSE_S + 0.5)
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
    _slowed_generator(tmp_path / "mnist_cgan" / "1")
    settings = Settings(
        models_dir=tmp_path, poll_interval_s=0, log_format="text", max_queue_size=CLIENTS * ROWS
    )
    with serve_in_thread(settings) as live:
        host, port = live.host_port.split(":")
        before = _scrape(live.url)
        clients = [_hang_up_after_sending(host, int(port), seed) for seed in range(CLIENTS)]
        # Hang up while most of the work is still waiting in the queue.
        queued = _until(
            live.url,
            "the requests queueing",
            lambda now: now["queued"] >= (CLIENTS - 4) * ROWS,
        )
        for client in clients:
            client.close()
        after = _settled(live.url)
        ran = after["rows"] - before["rows"]
        # What was queued when the clients left never runs; the batch running then may
        # finish, and so may one taken in the moment before the hang-ups were seen.
        assert ran <= CLIENTS * ROWS - queued["queued"] + 2 * ROWS, (
            f"{ran:.0f} rows ran, {queued['queued']:.0f} of them abandoned while queued"
        )
        # Every request was read and queued: each ends as 499 unless it was answered first.
        answered = (CLIENTS * ROWS - queued["queued"]) / ROWS
        assert after["closed"] - before["closed"] >= CLIENTS - answered
        # The service goes on answering the clients that stay.
        answer = httpx.get(live.url + "/v1/generate?model=mnist_cgan&n=4&seed=1", timeout=60)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/png"
