"""Evaluate exported versions from disk, through their ``serving_default`` signature.

Figures in cards come from here, never from the in-memory Keras model, so they
describe exactly what a server will run.
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

Signature = Callable[..., Mapping[str, tf.Tensor]]


def load_signature(version_dir: Path) -> Signature:
    """The ``serving_default`` function of a SavedModel on disk."""
    loaded = tf.saved_model.load(str(version_dir))
    signature: Signature = loaded.signatures["serving_default"]
    # Keep the loaded object alive as long as its signature is used.
    signature._loaded = loaded  # type: ignore[attr-defined]
    return signature


def run_batched(
    signature: Signature, inputs: Mapping[str, NDArray[Any]], batch_size: int = 500
) -> dict[str, NDArray[np.float32]]:
    """Call ``signature`` over aligned input arrays in batches and concatenate outputs."""
    count = len(next(iter(inputs.values())))
    chunks: dict[str, list[NDArray[np.float32]]] = {}
    for start in range(0, count, batch_size):
        batch = {k: tf.constant(v[start : start + batch_size]) for k, v in inputs.items()}
        for key, value in signature(**batch).items():
            chunks.setdefault(key, []).append(value.numpy())
    return {key: np.concatenate(parts) for key, parts in chunks.items()}


def to_pixels(images: NDArray[np.uint8]) -> NDArray[np.float32]:
    """uint8 ``[N, H, W]`` or ``[N, H, W, C]`` to float32 ``[N, H, W, C]`` in [0, 1]."""
    pixels = images.astype(np.float32) / 255.0
    return pixels[..., np.newaxis] if images.ndim == 3 else pixels


def confusion_matrix(
    labels: NDArray[np.integer[Any]], predicted: NDArray[np.integer[Any]], num_classes: int
) -> NDArray[np.int64]:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def evaluate_classifier(
    version_dir: Path, images: NDArray[np.uint8], labels: NDArray[np.uint8]
) -> tuple[dict[str, Any], NDArray[np.int64]]:
    """Accuracy, cross-entropy and per-class recall on the given split."""
    outputs = run_batched(load_signature(version_dir), {"images": to_pixels(images)})
    probabilities = outputs["probabilities"]
    predicted = probabilities.argmax(axis=1)
    picked = probabilities[np.arange(len(labels)), labels.astype(np.int64)]
    matrix = confusion_matrix(labels, predicted, probabilities.shape[1])
    recall = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    metrics = {
        "test_accuracy": round(float((predicted == labels).mean()), 4),
        "test_loss": round(float(-np.log(np.clip(picked, 1e-7, 1.0)).mean()), 4),
        "test_examples": len(labels),
        "per_class_recall": [round(float(r), 4) for r in recall],
    }
    return metrics, matrix


def frechet_distance(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (as in FID)."""
    from scipy import linalg

    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    covmean = np.real(covmean)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))
