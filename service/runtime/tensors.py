"""Tensor descriptions (from signatures and cards), and validation of request inputs."""

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.runtime.errors import InvalidInputError

Shape = tuple[int | None, ...]
# A model as the batcher sees it: one padded batch of named arrays in, named arrays out.
PredictFn = Callable[[Mapping[str, NDArray[Any]]], dict[str, NDArray[Any]]]


@dataclass(frozen=True)
class TensorInfo:
    """Dtype name (numpy spelling, e.g. ``float32``) and shape, ``None`` for the batch."""

    dtype: str
    shape: Shape

    def describe(self) -> str:
        dims = ", ".join("N" if dim is None else str(dim) for dim in self.shape)
        return f"{self.dtype} [{dims}]"


def validate_inputs(
    inputs: Mapping[str, Any], specs: Mapping[str, TensorInfo]
) -> tuple[dict[str, NDArray[Any]], int]:
    """Check names, dtype, trailing shape and finiteness; return cast arrays and the row count.

    The error messages are built only for a request that fails: describing the specs
    on every call cost a valid request more than the checks themselves.
    """
    if inputs.keys() != specs.keys():
        missing = [name for name in specs if name not in inputs]
        unknown = [name for name in inputs if name not in specs]
        expected = ", ".join(f"{name}: {info.describe()}" for name, info in specs.items())
        raise InvalidInputError(
            f"inputs must be exactly {{{expected}}}; missing {missing}, unknown {unknown}"
        )
    arrays = {name: _validate_one(name, inputs[name], spec) for name, spec in specs.items()}
    rows = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(rows.values())) != 1:
        raise InvalidInputError(f"inputs disagree on the batch size: {rows}")
    return arrays, next(iter(rows.values()))


def _validate_one(name: str, value: Any, spec: TensorInfo) -> NDArray[Any]:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{_expected(name, spec)}: not an array ({exc})") from exc
    if array.ndim != len(spec.shape) or any(
        want is not None and got != want for got, want in zip(array.shape, spec.shape, strict=True)
    ):
        raise InvalidInputError(f"{_expected(name, spec)}, got shape {list(array.shape)}")
    if array.shape[0] < 1:
        raise InvalidInputError(f"{_expected(name, spec)} with at least one row")
    return _cast(array, _numpy_dtype(spec.dtype), name, spec)


def _expected(name: str, spec: TensorInfo) -> str:
    return f"input {name!r} must be {spec.describe()}"


@functools.cache
def _numpy_dtype(name: str) -> np.dtype[Any]:
    return np.dtype(name)


def _cast(array: NDArray[Any], target: np.dtype[Any], name: str, spec: TensorInfo) -> NDArray[Any]:
    source = array.dtype
    if source == target:
        cast = array
    elif np.can_cast(source, target, casting="same_kind") and source.kind in "biuf":
        with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as inf below
            cast = array.astype(target)
        if target.kind in "iu" and source.kind in "iu" and not np.array_equal(cast, array):
            raise InvalidInputError(f"{_expected(name, spec)}: values out of {target.name} range")
    else:
        raise InvalidInputError(
            f"{_expected(name, spec)}, got dtype {source.name} which cannot be cast"
        )
    if target.kind == "f" and not np.isfinite(cast).all():
        raise InvalidInputError(
            f"{_expected(name, spec)}: values must be finite (no NaN or infinity)"
        )
    return cast
