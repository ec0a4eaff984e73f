"""Ray Serve with `@serve.batch` (64 rows, 2 ms); Ray itself pinned to 127.0.0.1.

python bench/apps/rayserve_app.py MODEL_DIR PORT
"""

import sys
import time

import numpy as np
import ray
from common import decode_png, load_signature, predict, top5
from ray import serve
from starlette.requests import Request


@serve.deployment(max_ongoing_requests=512)
class Classifier:
    def __init__(self, model_dir: str) -> None:
        self.signature = load_signature(model_dir)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)  # type: ignore[untyped-decorator]
    async def classify(self, images: list[np.ndarray]) -> list[dict[str, object]]:
        probabilities = predict(self.signature, np.stack(images))
        return [{"top_k": top5(row)} for row in probabilities]

    async def __call__(self, request: Request) -> dict[str, object]:
        return await self.classify(decode_png(await request.body()))  # type: ignore[no-any-return]


if __name__ == "__main__":
    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=2, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[2])})
    serve.run(Classifier.bind(sys.argv[1]), route_prefix="/classify")  # type: ignore[attr-defined]
    while True:
        time.sleep(3600)
