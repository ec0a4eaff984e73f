"""The zoo's forecaster re-exported with a fixed pause before each batch, so a backlog
lasts seconds on a machine of any speed, yet drains in the same seconds on a slow or
loaded one: its length is the pauses', not the CPU's."""

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow.python.data.experimental.ops.testing import sleep as sleep_dataset


def slowed_forecaster(source: Path, target: Path, pause_s: float) -> None:
    """The forecaster at ``source`` behind a ``pause_s`` pause per call, with its card."""
    forecaster = tf.saved_model.load(str(source))
    forecast = forecaster.signatures["serving_default"]
    specs = forecast.structured_input_signature[1]

    @tf.function(input_signature=[specs["series"]])  # type: ignore[untyped-decorator]
    def serve(series: tf.Tensor) -> Any:
        pause = tf.data.Dataset.range(1).apply(sleep_dataset(int(pause_s * 1e6)))
        waited = pause.reduce(tf.constant(0, tf.int64), lambda total, x: total + x)
        with tf.control_dependencies([waited]):
            return forecast(series=tf.identity(series))

    module = tf.Module()
    module.forecaster = forecaster  # tracked, so its variables are saved
    module.serve = serve
    tf.saved_model.save(module, str(target), signatures={"serving_default": serve})
    shutil.copy(source / "model_card.json", target / "model_card.json")


def batcher_rows(text: str) -> tuple[float, float]:
    """(rows queued now, rows already run) from /metrics; their sum is every row that
    entered the batcher."""
    values = {"kerasserve_queue_depth": 0.0, "kerasserve_batch_size_sum": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in values:
                values[sample.name] += sample.value
    return values["kerasserve_queue_depth"], values["kerasserve_batch_size_sum"]


async def until_submitted(
    client: httpx.AsyncClient, rows: float, batch: int, timeout_s: float = 30
) -> float:
    """Wait until ``rows`` rows entered the batcher; return how many are still queued.

    The batch running and the full one handed to the pool behind it are in neither count
    (at most two batches of ``batch`` rows): callers submit requests of several batches.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        queued, done = batcher_rows((await client.get("/metrics")).text)
        if queued + done + 2 * batch >= rows:
            return queued
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{rows} rows never reached the batcher")
