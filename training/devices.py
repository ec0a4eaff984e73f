"""Device set-up for training: GPU memory growth, mixed precision, XLA, determinism.

All of it must run before the first TensorFlow op creates a context, so the
command line calls :func:`configure_devices` first thing.
"""

import logging
from dataclasses import dataclass
from typing import Literal

import keras
import tensorflow as tf

logger = logging.getLogger(__name__)

StrategyName = Literal["default", "mirrored", "multiworker"]


@dataclass(frozen=True)
class DeviceOptions:
    """How training uses the hardware; every field is a command-line flag."""

    seed: int | None = 1234
    mixed_precision: bool = False
    xla: bool = False


def configure_devices(options: DeviceOptions) -> list[str]:
    """Apply ``options`` and return the names of the visible GPUs (empty on CPU)."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        # Without growth TensorFlow reserves the whole card at start-up.
        tf.config.experimental.set_memory_growth(gpu, True)
    if options.mixed_precision:
        if not gpus:
            logger.warning("mixed precision requested without a GPU: float16 is slow on CPU")
        keras.mixed_precision.set_global_policy("mixed_float16")
    if options.seed is not None:
        keras.utils.set_random_seed(options.seed)
        if not gpus:
            # Deterministic kernels cost little on CPU and make runs repeatable.
            tf.config.experimental.enable_op_determinism()
    logger.info("devices: %s", [gpu.name for gpu in gpus] or ["CPU"])
    return [gpu.name for gpu in gpus]


def make_strategy(name: StrategyName) -> tf.distribute.Strategy:
    """Build the ``tf.distribute`` strategy named on the command line.

    ``multiworker`` reads the cluster from ``TF_CONFIG``; every worker runs the
    same command and only the chief exports.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}: use default, mirrored or multiworker")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the one worker that writes exports, cards and plots."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return bool(task_type == "chief" or (task_type == "worker" and task_id == 0))
