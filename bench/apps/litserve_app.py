"""LitServe with its own batching (64 rows, 2 ms), one PNG per multipart `file` part.

LitServe hands `decode_request` parsed JSON or a form, not raw bytes, so this peer
gets the same PNG as a multipart upload.

    python bench/apps/litserve_app.py MODEL_DIR PORT
"""

import sys

import litserve as ls
import numpy as np
from common import decode_png, load_signature, predict, top5


class Classifier(ls.LitAPI):  # type: ignore[misc]
    def setup(self, device: str) -> None:
        self.signature = load_signature(sys.argv[1])

    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return decode_png(request["file"].file.read())

    def batch(self, inputs):  # type: ignore[no-untyped-def]
        return np.stack(inputs)

    def predict(self, batch):  # type: ignore[no-untyped-def]
        return predict(self.signature, batch)

    def unbatch(self, output):  # type: ignore[no-untyped-def]
        return list(output)

    def encode_response(self, output):  # type: ignore[no-untyped-def]
        return {"top_k": top5(output)}


if __name__ == "__main__":
    api = Classifier(max_batch_size=64, batch_timeout=0.002)
    server = ls.LitServer(api, accelerator="cpu")
    server.run(
        host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", generate_client_file=False
    )
