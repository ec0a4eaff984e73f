"""Requests the protocol route tests share: tensors, encoded images, what the model sees."""

import base64

import numpy as np

from service.preprocessing.images import prepare_image
from tests.service.api.util import png_bytes

IMAGE = np.zeros((28, 28, 1)).tolist()
SQUARE = png_bytes(200)
DIM = png_bytes(60, size=(40, 30))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def prepared_batch(model, *images: bytes) -> np.ndarray:
    """What the model should be fed: its own preprocessing, applied here directly."""
    binding = model.spec.classify
    return np.stack(
        [prepare_image(data, binding.image, dtype=binding.dtype).pixels for data in images]
    )
