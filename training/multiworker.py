"""Make ``fit()`` work under ``MultiWorkerMirroredStrategy`` with Keras 3 on TensorFlow.

Keras 3.15 has two faults on this path, both in code that only runs with a
multi-worker collective strategy:

1. Before the first epoch it all-reduces the first ``(x, y)`` batch across the
   workers only to learn tensor shapes; ``CollectiveAllReduce`` cannot reduce a
   tuple, so ``fit`` fails. Shapes are the same on every worker, so one local
   batch is enough.
2. It averages the scalar loss and metric results with ``axis=0``, which a
   scalar does not have. ``axis=None`` averages them across workers as intended.

Both fixes are applied only when a run uses the multi-worker strategy.
"""

from typing import Any

import keras
import tensorflow as tf

_patched = False


def is_multiworker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def prepare_multiworker_fit(model: keras.Model, local_batch: Any) -> None:
    """Apply both fixes for ``model``; ``local_batch`` is one ``(x, y)`` batch."""
    _patch_metric_reduction()

    def build_from_local_batch(iterator: Any = None, data_batch: Any = None) -> None:
        with model.distribute_strategy.scope():
            model._symbolic_build(data_batch=local_batch)

    model._maybe_symbolic_build = build_from_local_batch


def _patch_metric_reduction() -> None:
    global _patched
    if _patched:
        return
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if trainer._collective_all_reduce_multi_worker(strategy) and reduction in {"auto", "mean"}:
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    trainer.reduce_per_replica = reduce_per_replica
    _patched = True
