"""BentoML with adaptive batching on (64 rows); the PNG as a multipart `image` part.

cd bench/apps && BENCH_MODEL_DIR=...
    bentoml serve bento_service:Classifier --host 127.0.0.1 --port PORT
"""

import os

import bentoml
import numpy as np
from common import LABELS, load_signature, predict
from PIL.Image import Image


@bentoml.service(workers=1)
class Classifier:
    def __init__(self) -> None:
        self.signature = load_signature(os.environ["BENCH_MODEL_DIR"])

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=10_000)  # type: ignore[untyped-decorator]
    def classify(self, image: list[Image]) -> list[dict[str, object]]:
        pixels = np.stack(
            [
                np.asarray(item.convert("L"), dtype=np.float32).reshape(28, 28, 1) / 255.0
                for item in image
            ]
        )
        rows = predict(self.signature, pixels)
        return [{"label": LABELS[int(row.argmax())], "score": float(row.max())} for row in rows]
