"""JSON bytes by orjson, which writes numpy arrays straight from their buffers.

Output tensors go to clients whole; orjson serialises them several times faster than
`.tolist()` plus the standard encoder. Shared by the protocol encoders and the HTTP
layer's JSON response.
"""

from typing import Any

import numpy as np
import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(content: Any) -> bytes:
    """Serialise to JSON bytes; numpy scalars and arrays included."""
    return orjson.dumps(content, default=_numpy_scalar, option=_OPTIONS)


def _numpy_scalar(value: Any) -> Any:
    """Fallback for what orjson skips: non-contiguous arrays and numpy scalars."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
