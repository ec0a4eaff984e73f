"""BYTES tensors of the KServe V2 protocol: encoded images in, strings out.

In JSON a BYTES element is a string (base64 for binary content such as an image);
in Triton's binary tensor extension each element is a 4-byte little-endian length
followed by its bytes.
"""

import struct
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidRequestError
from service.protocols.v2_messages import BYTES, V2_DATATYPES, V2Tensor
from service.tasks.encoding import b64_bytes

LENGTH = struct.Struct("<I")


def pack(elements: Sequence[bytes]) -> bytes:
    """Elements in Triton's binary BYTES layout."""
    return b"".join(LENGTH.pack(len(item)) + item for item in elements)


def image_elements(tensor: V2Tensor, raw: bytes | None) -> list[bytes]:
    """The N encoded images of a BYTES input of shape [N] or [N, 1]."""
    if not tensor.shape or tensor.shape[1:] not in ([], [1]) or tensor.shape[0] < 1:
        raise InvalidRequestError(
            f"input {tensor.name!r}: a BYTES input of images has shape [N] or [N, 1], "
            f"not {tensor.shape}"
        )
    if raw is not None:
        elements = length_prefixed(tensor.name, raw)
    elif tensor.data is None:
        raise InvalidRequestError(f"input {tensor.name!r} has neither data nor binary_data_size")
    else:
        elements = [
            b64_bytes(item, f"input {tensor.name!r} data[{i}]")
            for i, item in enumerate(_flat(tensor.data))
        ]
    if len(elements) != tensor.shape[0]:
        raise InvalidRequestError(
            f"input {tensor.name!r}: {len(elements)} elements do not fill shape {tensor.shape}"
        )
    return elements


def length_prefixed(name: str, raw: bytes) -> list[bytes]:
    """Triton's serialized BYTES tensor: each element's uint32 LE length, then its bytes."""
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + LENGTH.size > len(raw):
            raise InvalidRequestError(f"input {name!r}: binary BYTES data ends inside a length")
        (length,) = LENGTH.unpack_from(raw, offset)
        offset += LENGTH.size
        if offset + length > len(raw):
            raise InvalidRequestError(
                f"input {name!r}: element {len(elements)} claims {length} bytes, "
                f"{len(raw) - offset} remain"
            )
        elements.append(raw[offset : offset + length])
        offset += length
    return elements


def _flat(data: Sequence[Any]) -> Iterator[Any]:
    for item in data:
        if isinstance(item, list):
            yield from _flat(item)
        else:
            yield item


def element_bytes(item: Any) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode()


# Per NumPy dtype: its V2 datatype, and whether its bytes are the V2 raw layout as they
# are. Cached: `dtype.name` and `newbyteorder` cost microseconds a call, on every answer.
_DATATYPE_OF: dict[np.dtype[Any], str] = {}
_LITTLE_ENDIAN = {"<", "|"} | ({"="} if sys.byteorder == "little" else set())
_RAW_AS_IS: dict[np.dtype[Any], bool] = {}


def datatype_of(array: NDArray[Any]) -> str:
    """The V2 datatype of an output array (BYTES for Python objects)."""
    dtype = array.dtype
    known = _DATATYPE_OF.get(dtype)
    if known is None:
        known = BYTES if dtype == np.object_ else V2_DATATYPES.get(dtype.name, dtype.name.upper())
        _DATATYPE_OF[dtype] = known
    return known


def little_endian(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """``dtype`` read as the V2 raw layout reads it: little-endian."""
    return dtype if dtype.byteorder in _LITTLE_ENDIAN else dtype.newbyteorder("<")


def raw_bytes(array: NDArray[Any]) -> bytes:
    """The V2 raw layout: little-endian values in row-major order, or length-prefixed."""
    dtype = array.dtype
    as_is = _RAW_AS_IS.get(dtype)
    if as_is is None:
        as_is = _RAW_AS_IS[dtype] = dtype != np.object_ and dtype.byteorder in _LITTLE_ENDIAN
    if as_is:
        return array.tobytes()  # row-major whatever the array's own layout
    if dtype == np.object_:
        flat = np.ascontiguousarray(array).reshape(-1)
        return pack([element_bytes(item) for item in flat])
    return np.ascontiguousarray(array, dtype=dtype.newbyteorder("<")).tobytes()
