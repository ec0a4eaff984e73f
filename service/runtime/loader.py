"""Loading one model version: card, SavedModel, signature check, device, warm-up.

Everything here blocks (file I/O, graph loading, the first TF calls), so the
repository runs :func:`load_version` in a worker thread, never on the event loop.
"""

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from service.runtime.tensors import PredictFn, TensorInfo, parse_tensor_infos
from service.runtime.warmup import warm_up

logger = logging.getLogger(__name__)

CARD_FILE = "model_card.json"
TASKS = frozenset({"classify", "forecast", "generate"})


class LoadError(Exception):
    """A version was refused; ``reason`` says why, ``card`` is kept when it was readable."""

    def __init__(self, reason: str, card: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.card = card


class SignatureRunner:
    """Calls a concrete ``serving_default`` function once per batch, numpy in and out."""

    def __init__(
        self, function: Any, device: str, outputs: Mapping[str, TensorInfo], owner: Any = None
    ) -> None:
        self._owner = owner  # the loaded SavedModel owns the variables the function reads
        self._function = function
        self._device = device
        self._outputs = tuple(outputs)

    def __call__(self, inputs: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        # Device scopes are per thread, so the scope is entered in the calling thread.
        with tf.device(self._device):
            result = self._function(**{name: tf.constant(array) for name, array in inputs.items()})
        return {name: result[name].numpy() for name in self._outputs}


@dataclass(frozen=True)
class LoadedModel:
    card: Mapping[str, Any]
    task: str
    inputs: Mapping[str, TensorInfo]
    outputs: Mapping[str, TensorInfo]
    runner: PredictFn
    device: str
    seconds: float


def read_card(version_dir: Path) -> dict[str, Any]:
    try:
        card = json.loads((version_dir / CARD_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise LoadError(f"unreadable {CARD_FILE}: {exc}") from exc
    if not isinstance(card, dict):
        raise LoadError(f"{CARD_FILE} is not a JSON object")
    if card.get("task") not in TASKS:
        raise LoadError(f"card task {card.get('task')!r} is not one of {sorted(TASKS)}", card)
    return card


def load_version(version_dir: Path, device: str, warmup_sizes: tuple[int, ...]) -> LoadedModel:
    """Load, check and warm up ``version_dir``; raise ``LoadError`` when it must be refused."""
    started = time.perf_counter()
    card = read_card(version_dir)
    try:
        inputs = parse_tensor_infos(card.get("inputs"), "inputs")
        outputs = parse_tensor_infos(card.get("outputs"), "outputs")
    except ValueError as exc:
        raise LoadError(str(exc), card) from exc
    signature_name = str(card.get("signature_name") or "serving_default")
    with tf.device(device):
        saved = tf.saved_model.load(str(version_dir))
    function = saved.signatures.get(signature_name)
    if function is None:
        raise LoadError(f"SavedModel has no signature {signature_name!r}", card)
    problems = signature_mismatches(function, inputs, outputs)
    if problems:
        raise LoadError("signature does not match the card: " + "; ".join(problems), card)
    runner = SignatureRunner(function, device, outputs, owner=saved)
    try:
        warm_up(runner, inputs, outputs, warmup_sizes)
    except Exception as exc:
        raise LoadError(f"warm-up failed: {exc}", card) from exc
    seconds = time.perf_counter() - started
    return LoadedModel(card, str(card["task"]), inputs, outputs, runner, device, seconds)


def signature_mismatches(
    function: Any, inputs: Mapping[str, TensorInfo], outputs: Mapping[str, TensorInfo]
) -> list[str]:
    """Human-readable differences between a concrete function and the card."""
    _, keyword_specs = function.structured_input_signature
    output_specs = function.structured_outputs
    if not isinstance(output_specs, Mapping):
        return [f"outputs are {type(output_specs).__name__}, not a dict of named tensors"]
    return _compare("input", keyword_specs, inputs) + _compare("output", output_specs, outputs)


def _compare(kind: str, specs: Mapping[str, Any], expected: Mapping[str, TensorInfo]) -> list[str]:
    problems = []
    if set(specs) != set(expected):
        problems.append(f"{kind}s are {sorted(specs)}, card says {sorted(expected)}")
    for name in sorted(set(specs) & set(expected)):
        spec = specs[name]
        actual = TensorInfo(np.dtype(spec.dtype.as_numpy_dtype).name, _shape(spec.shape))
        if actual != expected[name]:
            want = expected[name].describe()
            problems.append(f"{kind} {name!r} is {actual.describe()}, card says {want}")
    return problems


def _shape(shape: Any) -> tuple[int | None, ...]:
    dims = shape.as_list() if shape.rank is not None else []
    return tuple(None if dim is None else int(dim) for dim in dims)
