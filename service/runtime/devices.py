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


def configure_threads(intra_op: int, inter_op: int) -> None:
    """Size TensorFlow's thread pools (0 keeps TensorFlow's choice for that pool).

    TensorFlow gives every process a pool as wide as the machine; with several worker
    processes each one's pools then spin on every core after each call, on the other
    workers' time. The sizes only take effect before TensorFlow's first operation.
    """
    current = (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )
    if current == (intra_op, inter_op):
        return
    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError as exc:  # TensorFlow already ran: its pools are fixed
        logger.warning("cannot size TensorFlow's thread pools: %s", exc)
        return
    logger.info("TensorFlow thread pools: intra-op %d, inter-op %d", intra_op, inter_op)


def device_info(device: str | None) -> dict[str, Any]:
    """What ``/health``-style endpoints show about the hardware."""
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "device": device,
        "gpus": [gpu.name for gpu in gpus],
        "tensorflow_version": tf.__version__,
        # 0 means TensorFlow chose (as wide as the machine).
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }
