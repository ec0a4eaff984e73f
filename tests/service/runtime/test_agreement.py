"""The check a second runtime must pass before it answers for a SavedModel."""

import numpy as np
import pytest

from service.runtime.agreement import RuntimeMismatchError, check_same_answers, probe_inputs
from service.runtime.tensors import TensorInfo


def test_answers_that_differ_are_refused_with_what_differs():
    want = {"probabilities": np.array([[0.7, 0.3], [0.4, 0.6]], np.float32)}
    check_same_answers(want, {"probabilities": want["probabilities"] + 5e-6}, "probabilities")
    with pytest.raises(RuntimeMismatchError, match=r"'probabilities' differs by 0\.0001"):
        check_same_answers(want, {"probabilities": want["probabilities"] + 1e-4}, None)
    with pytest.raises(RuntimeMismatchError, match="shape"):
        check_same_answers(want, {"probabilities": want["probabilities"][:1]}, None)
    near_tie = {"probabilities": np.array([[0.5000002, 0.5]], np.float32)}
    flipped = {"probabilities": np.array([[0.5, 0.5000002]], np.float32)}
    check_same_answers(near_tie, flipped, None)
    with pytest.raises(RuntimeMismatchError, match="top-1"):
        check_same_answers(near_tie, flipped, "probabilities")


def test_large_outputs_are_compared_relative_to_their_size():
    want = {"logits": np.array([[1000.0, -1000.0]], np.float32)}
    check_same_answers(want, {"logits": want["logits"] + np.float32(0.005)}, "logits")
    with pytest.raises(RuntimeMismatchError):
        check_same_answers(want, {"logits": want["logits"] + np.float32(0.05)}, "logits")


def test_probe_inputs_are_seeded_and_in_range():
    specs = {"x": TensorInfo("float32", (None, 3)), "k": TensorInfo("uint8", (None, None))}
    first, second = probe_inputs(specs, 4, {"k": (5,)}), probe_inputs(specs, 4, {"k": (5,)})
    assert first["x"].shape == (4, 3) and first["k"].shape == (4, 5)
    assert first["x"].dtype == np.float32 and first["k"].dtype == np.uint8
    assert first["x"].min() >= 0 and first["x"].max() < 1
    np.testing.assert_array_equal(first["x"], second["x"])


def test_probe_inputs_refuse_inputs_that_are_not_numbers():
    with pytest.raises(RuntimeMismatchError, match="'text' is object"):
        probe_inputs({"text": TensorInfo("object", (None,))}, 2, {})
