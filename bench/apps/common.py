"""What every peer app does the same way: load the SavedModel, decode a PNG, top-5.

Kept identical across peers so the benchmark compares the serving layers, not the
preprocessing. Imported by apps running in the peers' own venvs (TensorFlow, Pillow,
NumPy only).
"""

import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from PIL import Image

LABELS = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


def load_signature(model_dir: str):  # type: ignore[no-untyped-def]
    import tensorflow as tf

    return tf.saved_model.load(model_dir).signatures["serving_default"]


def decode_png(data: bytes) -> np.ndarray:
    """28x28 grayscale PNG bytes -> float32 [28, 28, 1] in [0, 1]."""
    image = Image.open(io.BytesIO(data)).convert("L")
    return (np.asarray(image, dtype=np.float32) / 255.0).reshape(28, 28, 1)


def predict(signature, batch: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """[N, 28, 28, 1] -> probabilities [N, 10]."""
    probabilities: np.ndarray = signature(images=batch)["probabilities"].numpy()
    return probabilities


def top5(probabilities: np.ndarray) -> list[dict[str, object]]:
    order = np.argsort(-probabilities)[:5]
    return [{"label": LABELS[i], "index": int(i), "score": float(probabilities[i])} for i in order]
