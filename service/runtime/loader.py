"""Loading one model version: card (optional), SavedModel, signature, spec, warm-up.

Everything here blocks (file I/O, graph loading, the first TF calls), so the
repository runs :func:`load_version` in a worker thread, never on the event loop.
"""

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tensorflow as tf
from numpy.typing import NDArray

from service.card import CardError, ModelCard, OutputKind, read_card, read_labels_file
from service.runtime.agreement import RuntimeMismatchError
from service.runtime.litert import lite_runner
from service.runtime.scores import detect_scores
from service.runtime.signature import SignatureError, read_signature
from service.runtime.spec import ClassifyBinding, ModelSpec, SpecError, resolve_spec, with_scores
from service.runtime.tensors import PredictFn, TensorInfo
from service.runtime.warmup import time_batches, warm_up
from service.runtime.xla import compiled, describe, xla_dispatch

logger = logging.getLogger(__name__)


class LoadError(Exception):
    """A version was refused; ``reason`` says why, ``card`` is kept when it was readable."""

    def __init__(self, reason: str, card: ModelCard | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.card = card


class SignatureRunner:
    """Calls a concrete signature function once per batch, numpy in and out."""

    def __init__(
        self, function: Any, device: str, outputs: Mapping[str, TensorInfo], owner: Any = None
    ) -> None:
        self._owner = owner  # the loaded SavedModel owns the variables the function reads
        self._function = function
        self._device = device
        self._outputs = tuple(outputs)
        # With no GPU, everything runs on the CPU anyway; the scope costs ~50 us a call.
        self._scoped = device != "/CPU:0" or bool(tf.config.list_physical_devices("GPU"))

    def __call__(self, inputs: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        if not self._scoped:
            return self._call(inputs)
        # Device scopes are per thread, so the scope is entered in the calling thread.
        with tf.device(self._device):
            return self._call(inputs)

    def _call(self, inputs: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        result = self._function(**{name: tf.constant(array) for name, array in inputs.items()})
        return {name: result[name].numpy() for name in self._outputs}


@dataclass(frozen=True)
class LoadedModel:
    spec: ModelSpec
    runner: PredictFn
    device: str
    seconds: float
    runtime: str = "tensorflow"
    runtime_note: str | None = None  # why the card's runtime was not used, or where xla runs
    batch_seconds: Mapping[int, float] = field(default_factory=dict)  # `time_batches`

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def card(self) -> ModelCard:
        return self.spec.card

    @property
    def inputs(self) -> Mapping[str, TensorInfo]:
        return self.spec.inputs

    @property
    def outputs(self) -> Mapping[str, TensorInfo]:
        return self.spec.outputs


def load_version(version_dir: Path, device: str, warmup_sizes: tuple[int, ...]) -> LoadedModel:
    """Load, resolve and warm up ``version_dir``; raise ``LoadError`` when it must be refused."""
    started = time.perf_counter()
    card = _read_card(version_dir)
    with tf.device(device):
        saved = tf.saved_model.load(str(version_dir))
    try:
        signature = read_signature(saved.signatures, card.signature_name if card else None)
        labels = read_labels_file(version_dir)
        spec = resolve_spec(card, signature.name, signature.inputs, signature.outputs, labels)
    except (SignatureError, SpecError, CardError) as exc:
        raise LoadError(str(exc), card) from exc
    runner: PredictFn = SignatureRunner(signature.function, device, spec.outputs, owner=saved)
    fixed = _fixed_shapes(spec)
    try:
        answers = warm_up(runner, spec.inputs, spec.outputs, warmup_sizes, fixed)
    except Exception as exc:
        raise LoadError(f"warm-up failed: {exc}", card) from exc
    if spec.classify is not None:
        spec = with_scores(spec, _score_kind(spec.classify, answers))
    runtime, note = "tensorflow", None
    top1 = spec.classify.output if spec.classify is not None else None  # must not change
    if card is not None and card.runtime == "xla":
        xla = SignatureRunner(compiled(signature.function), device, spec.outputs, owner=saved)
        try:
            dispatch = xla_dispatch(xla, runner, spec.inputs, fixed, warmup_sizes, top1)
        except RuntimeMismatchError as exc:
            note = f"card asks for xla; serving with tensorflow: {exc}"
            logger.warning("%s: %s", version_dir, note)
        else:
            runner, runtime, note = dispatch, "xla", describe(dispatch, warmup_sizes)
    if card is not None and card.runtime == "litert":
        try:
            lite = lite_runner(
                version_dir, signature.name, runner, spec.inputs, spec.outputs, fixed, top1
            )
            warm_up(lite, spec.inputs, spec.outputs, warmup_sizes, fixed)
        except Exception as exc:  # any failure of the optional runtime falls back to TF
            reason = str(exc) if isinstance(exc, RuntimeMismatchError) else repr(exc)
            note = f"card asks for litert; serving with tensorflow: {reason}"
            logger.warning("%s: %s", version_dir, note)
        else:
            runner, runtime, device = lite, "litert", "/CPU:0"
    batch_seconds = time_batches(runner, spec.inputs, warmup_sizes, fixed)
    seconds = time.perf_counter() - started
    return LoadedModel(spec, runner, device, seconds, runtime, note, batch_seconds)


def _read_card(version_dir: Path) -> ModelCard | None:
    try:
        return read_card(version_dir)
    except CardError as exc:
        raise LoadError(str(exc)) from exc


def _fixed_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Warm-up shapes for inputs the signature leaves open but the card fixes (image size)."""
    binding = spec.classify
    if binding is None or binding.image.size is None:
        return {}
    channels = binding.image.channels or 1
    return {binding.input: (*binding.image.size, channels)}


def _score_kind(binding: ClassifyBinding, answers: Mapping[str, NDArray[Any]]) -> OutputKind:
    """The card's word, else the output's name, else what the warm-up rows look like."""
    if binding.scores is not None:
        return binding.scores
    if binding.output in ("probabilities", "logits") and binding.columns > 1:
        return "probabilities" if binding.output == "probabilities" else "logits"
    return detect_scores(answers[binding.output])
