"""Choosing the TensorFlow device models are placed on.

Memory growth must be switched on before TensorFlow first touches a GPU, or
the first model would reserve the whole card; so :func:`resolve_device` does it
first, and runs before any model loads.
"""

import logging
import re
from typing import Any

import tensorflow as tf

logger = logging.getLogger(__name__)

_EXPLICIT = re.compile(r"^/?(?:device:)?(CPU|GPU):(\d+)$", re.IGNORECASE)


def enable_memory_growth(gpus: list[Any]) -> None:
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as exc:  # the GPU was initialised already; growth is fixed
            logger.warning("cannot enable memory growth on %s: %s", gpu.name, exc)


def resolve_device(requested: str) -> str:
    """``auto`` | ``cpu`` | ``gpu`` | ``/GPU:1`` -> a TF device string such as ``/GPU:0``.

    Raises ``ValueError`` for a GPU that is not there, so a bad setting stops the start.
    """
    gpus = tf.config.list_physical_devices("GPU")
    enable_memory_growth(gpus)
    choice = requested.strip().lower()
    if choice == "auto":
        return "/GPU:0" if gpus else "/CPU:0"
    if choice == "cpu":
        return "/CPU:0"
    if choice == "gpu":
        choice = "/gpu:0"
    match = _EXPLICIT.match(choice)
    if match is None:
        raise ValueError(f"device must be auto, cpu, gpu or like /GPU:1, not {requested!r}")
    kind, index = match.group(1).upper(), int(match.group(2))
    if kind == "GPU" and index >= len(gpus):
        raise ValueError(f"device {requested!r} requested but {len(gpus)} GPU(s) are visible")
    if kind == "CPU" and index != 0:
        raise ValueError(f"TensorFlow exposes one CPU device, not {requested!r}")
    return f"/{kind}:{index}"


def device_info(device: str | None) -> dict[str, Any]:
    """What ``/health``-style endpoints show about the hardware."""
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "device": device,
        "gpus": [gpu.name for gpu in gpus],
        "tensorflow_version": tf.__version__,
    }
