"""LiteRT: an optional second runtime for small models, chosen by the card (`"runtime": "litert"`).

A TensorFlow signature call costs a few hundred microseconds whatever the model does:
argument flattening, eager dispatch, and thread pools that keep spinning after the
call. For a model as small as an MLP that is most of a request. The TensorFlow Lite
interpreter (LiteRT, shipped inside TensorFlow as `tf.lite`) runs the same graph in
tens of microseconds. The interpreter comes from the `ai-edge-litert` package when it
is installed, else from TensorFlow's own (deprecated) `tf.lite`; the converter is
TensorFlow's either way. It is used only when a card asks for it, and only after the
converted graph has answered like the SavedModel (`answer_check`: identical top-1 on
every probe row, every output within its tolerance). Otherwise the version is served
by TensorFlow and the reason is logged and shown in the model's status.
"""

import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tensorflow as tf
from numpy.typing import NDArray

from service.runtime.agreement import (
    PROBE_ROWS,
    RuntimeMismatchError,
    check_same_answers,
    probe_inputs,
)
from service.runtime.tensors import PredictFn, TensorInfo

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # the `serve` extra installs it; TensorFlow still bundles one
    Interpreter = tf.lite.Interpreter


class LiteRunner:
    """Calls one signature of a converted model, numpy in and out, one call at a time.

    An interpreter is not thread-safe, so calls take a lock; the batcher rarely has more
    than one in flight for a model this small. The signature runner resizes the inputs
    to each batch's rows, so every padded batch size works.
    """

    def __init__(self, flatbuffer: bytes, signature: str, outputs: Mapping[str, TensorInfo]):
        with warnings.catch_warnings():  # tf.lite's says to use ai-edge-litert instead
            warnings.simplefilter("ignore", UserWarning)
            interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
        self._runner = interpreter.get_signature_runner(signature)
        self._interpreter = interpreter  # the runner needs it alive
        self._outputs = tuple(outputs)
        self._lock = threading.Lock()

    def __call__(self, inputs: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        with self._lock:
            result = self._runner(**inputs)
        return {name: result[name] for name in self._outputs}


def convert(version_dir: Path, signature: str) -> bytes:
    """The SavedModel's signature as a TensorFlow Lite flatbuffer (builtin ops only)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(version_dir), signature_keys=[signature]
    )
    try:
        return bytes(converter.convert())
    except Exception as exc:  # the converter raises several unrelated types
        raise RuntimeMismatchError(f"conversion failed: {_first_line(exc)}") from exc


def lite_runner(
    version_dir: Path,
    signature: str,
    reference: PredictFn,
    inputs: Mapping[str, TensorInfo],
    outputs: Mapping[str, TensorInfo],
    fixed: Mapping[str, tuple[int, ...]],
    top1_output: str | None,
) -> LiteRunner:
    """A checked LiteRT runner for the signature, or ``RuntimeMismatchError`` saying why."""
    runner = LiteRunner(convert(version_dir, signature), signature, outputs)
    for rows in (1, PROBE_ROWS):
        probe = probe_inputs(inputs, rows, fixed)
        try:
            got = runner(probe)
        except Exception as exc:
            raise RuntimeMismatchError(f"converted model failed: {_first_line(exc)}") from exc
        check_same_answers(reference(probe), got, top1_output)
    return runner


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
