"""A classifier's signature with no HTTP: images per second at the batch given.

python bench/apps/raw_classifier.py MODEL_DIR BATCH.npy SECONDS  -> prints images/s

BATCH.npy holds the model's input, already prepared ([N, h, w, c] float32); every call
runs the whole batch through the `serving_default` signature and reads the result back,
as a server would. What the model costs alone, for the bulk rows of `bench run`.
"""

import sys
import time

import numpy as np
from common import load_signature

signature = load_signature(sys.argv[1])
batch = np.load(sys.argv[2])
seconds = float(sys.argv[3])
(name,) = signature.structured_input_signature[1]


def once() -> None:
    outputs = signature(**{name: batch})
    for tensor in outputs.values():
        tensor.numpy()


for _ in range(20):
    once()
done, started = 0, time.perf_counter()
while time.perf_counter() - started < seconds:
    once()
    done += len(batch)
print(f"{done / (time.perf_counter() - started):.1f}")
