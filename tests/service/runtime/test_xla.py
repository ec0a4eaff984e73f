"""The optional XLA runtime: chosen by the card, checked and timed per batch size at load."""

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from service.runtime.loader import SignatureRunner, load_version
from service.runtime.tensors import TensorInfo
from service.runtime.xla import RowsDispatch, compiled, describe, xla_dispatch

STEPS = 200


def _save(module: tf.Module, serve: Any, version: Path, card: dict[str, Any]) -> Path:
    tf.saved_model.save(module, str(version), signatures={"serving_default": serve})
    (version / "model_card.json").write_text(json.dumps(card))
    return version


def recurrent_version(root: Path) -> Path:
    """A 200-step recursion: TensorFlow dispatches each step's ops, XLA compiles the loop."""
    module = tf.Module()
    module.weight = tf.Variable(0.5)

    @tf.function(  # type: ignore[untyped-decorator]
        input_signature=[tf.TensorSpec([None, STEPS], tf.float32, name="series")]
    )
    def serve(series: tf.Tensor) -> dict[str, tf.Tensor]:
        state = tf.zeros_like(series[:, 0])
        for step in tf.range(STEPS):
            state = tf.tanh(state * module.weight + series[:, step])
        return {"forecast": state[:, tf.newaxis]}

    return _save(module, serve, root / "recurrent" / "1", {"task": "predict", "runtime": "xla"})


def reference(version: Path, series: np.ndarray) -> np.ndarray:
    signature = tf.saved_model.load(str(version)).signatures["serving_default"]
    return np.asarray(signature(series=tf.constant(series))["forecast"].numpy())


def test_a_card_asking_for_xla_compiles_a_recurrent_model_with_the_same_answers(tmp_path):
    version = recurrent_version(tmp_path)
    loaded = load_version(version, "/CPU:0", (1, 2))
    assert loaded.runtime == "xla", loaded.runtime_note
    assert isinstance(loaded.runner, RowsDispatch) and 1 in loaded.runner.xla_rows
    assert loaded.runtime_note is not None and loaded.runtime_note.startswith("xla at batches")
    for rows in (1, 2, 3):  # 3 was never timed: TensorFlow runs it
        series = np.random.default_rng(rows).normal(size=(rows, STEPS)).astype(np.float32)
        got = loaded.runner({"series": series})["forecast"]
        np.testing.assert_allclose(got, reference(version, series), rtol=1e-5, atol=1e-6)


def test_a_model_xla_cannot_compile_falls_back_to_tensorflow_with_the_reason(tmp_path):
    # String ops have no XLA kernels: compiling the signature fails, TensorFlow serves it.
    module = tf.Module()

    @tf.function(  # type: ignore[untyped-decorator]
        input_signature=[tf.TensorSpec([None], tf.int32, name="codes")]
    )
    def serve(codes: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"digits": tf.strings.length(tf.strings.as_string(codes))}

    version = _save(module, serve, tmp_path / "digits" / "1", {"task": "predict", "runtime": "xla"})
    loaded = load_version(version, "/CPU:0", (1,))
    assert loaded.runtime == "tensorflow"
    assert loaded.runtime_note is not None and "compilation or call failed" in loaded.runtime_note
    out = loaded.runner({"codes": np.array([7, 1234], np.int32)})
    np.testing.assert_array_equal(out["digits"], [1, 4])


SLOWER_S = 0.05  # far more than a real call of this model takes, on any machine


class Slowed:
    """A real runner made slow at some row counts: decides the timing, nothing else."""

    def __init__(self, runner: Any, slow_rows: set[int]) -> None:
        self.runner = runner
        self.slow_rows = slow_rows

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if next(iter(inputs.values())).shape[0] in self.slow_rows:
            time.sleep(SLOWER_S)
        return dict(self.runner(inputs))


def test_xla_runs_only_the_batch_sizes_where_it_was_faster(tmp_path):
    version = recurrent_version(tmp_path)
    saved = tf.saved_model.load(str(version))
    function = saved.signatures["serving_default"]
    outputs = {"forecast": TensorInfo("float32", (None, 1))}
    plain = SignatureRunner(function, "/CPU:0", outputs, owner=saved)
    xla = SignatureRunner(compiled(function), "/CPU:0", outputs, owner=saved)
    inputs = {"series": TensorInfo("float32", (None, STEPS))}
    dispatch = xla_dispatch(Slowed(xla, {2, 4}), Slowed(plain, {1}), inputs, {}, (1, 2, 4), None)
    assert dispatch.xla_rows == frozenset({1})
    note = "xla at batches of 1 rows; tensorflow at 2, 4 (timed at load)"
    assert describe(dispatch, (1, 2, 4)) == note
