"""The generator with no HTTP: images per second at batch N, PNG encoding included.

python bench/apps/raw_generator.py MODEL_DIR N SECONDS  -> prints images/s
"""

import io
import sys
import time

import numpy as np
from common import load_signature
from PIL import Image

signature = load_signature(sys.argv[1])
count, seconds = int(sys.argv[2]), float(sys.argv[3])
rng = np.random.default_rng(0)


def once() -> None:
    noise = rng.standard_normal((count, 64)).astype(np.float32)
    labels = rng.integers(0, 10, count).astype(np.int32)
    images = signature(noise=noise, labels=labels)["images"].numpy()
    grid = (np.clip(images[..., 0], 0, 1) * 255).astype(np.uint8).reshape(-1, 28)
    Image.fromarray(grid).save(io.BytesIO(), format="PNG")


for _ in range(20):
    once()
done, started = 0, time.perf_counter()
while time.perf_counter() - started < seconds:
    once()
    done += count
print(f"{done / (time.perf_counter() - started):.1f}")
