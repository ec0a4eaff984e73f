"""Which signature of a loaded SavedModel to serve, and what its tensors look like.

TensorFlow Serving and Triton serve any SavedModel from its signature alone; this
is the same reading. A plain Keras 3 `model.export()` writes `serve` and
`serving_default`; older exports and other tools may write only one, or another name.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.runtime.tensors import TensorInfo

PREFERRED = ("serving_default", "serve")


class SignatureError(ValueError):
    """The SavedModel has no signature the service can call."""


@dataclass(frozen=True)
class Signature:
    name: str
    function: Any
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


def choose_signature(signatures: Mapping[str, Any], wanted: str | None) -> str:
    """The card's choice, else `serving_default`, else `serve`, else the only one."""
    available = sorted(signatures)
    if wanted is not None:
        if wanted not in signatures:
            raise SignatureError(f"SavedModel has no signature {wanted!r} (it has {available})")
        return wanted
    for name in PREFERRED:
        if name in signatures:
            return name
    if len(available) == 1:
        return available[0]
    if not available:
        raise SignatureError("SavedModel has no signatures; export it with model.export()")
    raise SignatureError(
        f"SavedModel has several signatures {available} and none is serving_default; "
        "name one in the card's signature_name"
    )


def read_signature(signatures: Mapping[str, Any], wanted: str | None) -> Signature:
    """The chosen concrete function with its named input and output tensors."""
    name = choose_signature(signatures, wanted)
    function = signatures[name]
    _, keyword_specs = function.structured_input_signature
    output_specs = function.structured_outputs
    if not isinstance(output_specs, Mapping):
        kind = type(output_specs).__name__
        raise SignatureError(f"signature {name!r} returns a {kind}, not a dict of named tensors")
    if not keyword_specs:
        raise SignatureError(f"signature {name!r} takes no named inputs")
    inputs = {key: tensor_info(spec) for key, spec in sorted(keyword_specs.items())}
    outputs = {key: tensor_info(spec) for key, spec in sorted(output_specs.items())}
    for where, infos in (("input", inputs), ("output", outputs)):
        for key, info in infos.items():
            if not info.shape or info.shape[0] not in (None,):
                raise SignatureError(
                    f"{where} {key!r} is {info.describe()}: the first dimension must be "
                    "the batch, of any size"
                )
    return Signature(name, function, inputs, outputs)


def tensor_info(spec: Any) -> TensorInfo:
    """A `tf.TensorSpec` as dtype name and shape (None where open)."""
    dims = spec.shape.as_list() if spec.shape.rank is not None else []
    shape = tuple(None if dim is None else int(dim) for dim in dims)
    return TensorInfo(np.dtype(spec.dtype.as_numpy_dtype).name, shape)
