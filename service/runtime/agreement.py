"""Whether a second runtime answers like the SavedModel it stands in for.

LiteRT and XLA are used only after this check: seeded probe rows go through both,
every output must agree within `TOLERANCE` (scaled by the output's magnitude) and
the top-1 class must be the same on every row. A version that fails is served by
TensorFlow, and `RuntimeMismatchError` carries the reason to its status.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.runtime.tensors import TensorInfo

TOLERANCE = 1e-5  # largest difference allowed, scaled by the output's magnitude
PROBE_ROWS = 16


class RuntimeMismatchError(Exception):
    """The other runtime does not answer like the SavedModel (or cannot run it)."""


def probe_inputs(
    inputs: Mapping[str, TensorInfo], rows: int, fixed: Mapping[str, tuple[int, ...]]
) -> dict[str, NDArray[Any]]:
    """Seeded inputs that exercise the model: uniform [0, 1) floats, 0..255 integers."""
    generator = np.random.default_rng(0)
    probe = {}
    for name, info in inputs.items():
        shape = (rows, *fixed.get(name, tuple(dim or 1 for dim in info.shape[1:])))
        dtype = np.dtype(info.dtype)
        if dtype.kind == "f":
            probe[name] = generator.random(shape).astype(dtype)
        elif dtype.kind in "iu":
            probe[name] = generator.integers(0, 256, shape).astype(dtype)
        else:
            raise RuntimeMismatchError(f"input {name!r} is {dtype.name}; the runtimes take numbers")
    return probe


def check_same_answers(
    expected: Mapping[str, NDArray[Any]],
    got: Mapping[str, NDArray[Any]],
    top1_output: str | None,
) -> None:
    """Raise ``RuntimeMismatchError`` unless every output agrees (and top-1 is the same)."""
    for name, want in expected.items():
        have = np.asarray(got[name])
        if have.shape != want.shape:
            raise RuntimeMismatchError(
                f"output {name!r} has shape {list(have.shape)}, not {list(want.shape)}"
            )
        scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
        worst = float(np.max(np.abs(have.astype(np.float64) - want), initial=0.0))
        if not worst <= TOLERANCE * scale:
            raise RuntimeMismatchError(
                f"output {name!r} differs by {worst:.3g} (allowed {TOLERANCE * scale:.3g})"
            )
    if top1_output is not None:
        want_top = np.argmax(expected[top1_output], axis=-1)
        have_top = np.argmax(got[top1_output], axis=-1)
        if not np.array_equal(want_top, have_top):
            raise RuntimeMismatchError(f"top-1 of {top1_output!r} differs on a probe row")
