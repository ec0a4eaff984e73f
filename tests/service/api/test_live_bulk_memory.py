"""Many large photos in one request: the server's peak memory stays near a few photos'.

A real `kerasserve serve` process and its real peak RSS (`VmHWM`, reset through
`/proc/<pid>/clear_refs` once the server is ready): 16 JPEG photos of about 4
megapixels in one multipart request to an RGB 96x96 model. Decoded at full size they
would take 16 x 12 MB; the request may grow the peak by at most twice that, and since
photos are decoded a few at a time (one per image thread) it grows by far less.
"""

import io
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from tests.service.api.live import free_port, start_serve, wait_ready

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)

PHOTOS = 16
WIDTH, HEIGHT = 2304, 1728  # 3.98 megapixels
DECODED = WIDTH * HEIGHT * 3  # bytes of one photo decoded at full size (RGB)


def rgb96(models_dir: Path) -> None:
    """A small RGB 96x96 classifier, exported as people bring one."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((96, 96, 3), name="picture")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    version_dir = models_dir / "rgb96" / "1"
    keras.Model(inputs, outputs).export(str(version_dir), format="tf_saved_model", verbose=False)


def photo(seed: int) -> bytes:
    """A camera-sized JPEG with smooth gradients and grain, as photos compress."""
    generator = np.random.default_rng(seed)
    rows = np.linspace(0, 255, HEIGHT, dtype=np.float32)[:, None, None]
    columns = np.linspace(0, 255, WIDTH, dtype=np.float32)[None, :, None]
    tint = generator.uniform(0.3, 1.0, 3).astype(np.float32)
    base = (rows * tint + columns * (1 - tint)) / 2
    grain = generator.normal(0, 12, (HEIGHT, WIDTH, 3)).astype(np.float32)
    pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    models_dir = tmp_path_factory.mktemp("models")
    rgb96(models_dir)
    port = free_port()
    env = {"KERASSERVE_MAX_BODY_BYTES": str(256 * 1024 * 1024)}
    log_path = tmp_path_factory.mktemp("logs") / "serve.log"
    with log_path.open("wb") as log:
        process = start_serve(models_dir, ["--port", str(port)], env, log)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, process)
            yield url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def classify(url: str, photos: list[bytes]) -> httpx.Response:
    files = [("file", (f"photo{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)]
    return httpx.post(url + "/v1/classify?model=rgb96", files=files, timeout=300)


def test_sixteen_4_megapixel_photos_grow_the_peak_by_under_twice_their_decoded_size(
    server: tuple[str, int],
) -> None:
    url, pid = server
    photos = [photo(seed) for seed in range(PHOTOS)]
    # The first request of a ready server: its image threads and allocations count too.
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := the current RSS
    before = status_kb(pid, "VmRSS") * 1024
    answer = classify(url, photos)
    peak = status_kb(pid, "VmHWM") * 1024
    assert answer.status_code == 200, answer.text
    assert [r["filename"] for r in answer.json()["results"]] == [
        f"photo{i}.jpg" for i in range(PHOTOS)
    ]
    growth, decoded = peak - before, PHOTOS * DECODED
    body = sum(len(data) for data in photos)
    figures = (
        f"peak RSS grew {growth / 2**20:.0f} MB over {before / 2**20:.0f} MB for {PHOTOS} photos "
        f"({body / 2**20:.0f} MB of JPEG, {decoded / 2**20:.0f} MB decoded at full size), "
        f"{os.cpu_count()} cores"
    )
    logger.warning("%s", figures)
    assert growth <= 2 * decoded, figures
