"""The optional LiteRT runtime: chosen by the card, checked against TensorFlow at load."""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from service.runtime.agreement import probe_inputs
from service.runtime.loader import load_version
from tests.service.runtime.conftest import publish


def _with_card(version_dir: Path, **fields: object) -> Path:
    card_path = version_dir / "model_card.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    card.update(fields)
    card_path.write_text(json.dumps(card))
    return version_dir


def _reference(version_dir: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    answer = signature(**{name: tf.constant(array) for name, array in inputs.items()})
    return {name: tensor.numpy() for name, tensor in answer.items()}


def test_a_card_asking_for_litert_gets_it_and_the_same_answers(tmp_path, zoo):
    version = _with_card(publish(zoo["tiny_classifier"], tmp_path, "lite", 1), runtime="litert")
    loaded = load_version(version, "/CPU:0", (1, 4, 8))
    assert (loaded.runtime, loaded.runtime_note, loaded.device) == ("litert", None, "/CPU:0")
    name = next(iter(loaded.inputs))
    # Every padded size, one it was never warmed up with, sizes seen before again, and the
    # same size twice with other values (the runner resizes only when the rows change).
    for rows, scale in ((1, 1.0), (3, 1.0), (8, 1.0), (64, 1.0), (3, 1.0), (3, 0.5), (1, 0.5)):
        batch = probe_inputs(loaded.inputs, rows, {name: (28, 28, 1)})
        batch = {key: (array * scale).astype(array.dtype) for key, array in batch.items()}
        got, want = loaded.runner(batch), _reference(version, batch)
        assert set(got) == set(loaded.outputs)
        for output in got:
            np.testing.assert_allclose(got[output], want[output], atol=1e-5, rtol=1e-5)
            assert got[output].shape[0] == rows


def test_without_the_card_field_tensorflow_runs_the_model(tmp_path, zoo):
    loaded = load_version(publish(zoo["tiny_classifier"], tmp_path, "tf", 1), "/CPU:0", (1,))
    assert (loaded.runtime, loaded.runtime_note) == ("tensorflow", None)


def test_a_model_litert_cannot_take_falls_back_to_tensorflow_with_the_reason(tmp_path):
    # Matrix inversion is no LiteRT builtin: conversion fails, TensorFlow serves it.
    module = tf.Module()
    module.shift = tf.Variable(tf.eye(2) * 2.0)

    @tf.function(  # type: ignore[untyped-decorator]
        input_signature=[tf.TensorSpec([None, 2, 2], tf.float32, name="matrices")]
    )
    def serve(matrices: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"inverse": tf.linalg.inv(matrices + module.shift)}

    version = tmp_path / "inverse" / "1"
    tf.saved_model.save(module, str(version), signatures={"serving_default": serve})
    _with_card(version, runtime="litert", task="predict")
    loaded = load_version(version, "/CPU:0", (1,))
    assert loaded.runtime == "tensorflow"
    assert loaded.runtime_note is not None and "card asks for litert" in loaded.runtime_note
    out = loaded.runner({"matrices": np.zeros((3, 2, 2), np.float32)})
    np.testing.assert_allclose(out["inverse"], np.broadcast_to(np.eye(2) / 2, (3, 2, 2)))
