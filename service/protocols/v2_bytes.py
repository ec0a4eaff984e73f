"""BYTES tensors of the KServe V2 protocol: encoded images in, strings out.

In JSON a BYTES element is a string (base64 for binary content such as an image);
in Triton's binary tensor extension each element is a 4-byte little-endian length
followed by its bytes.
"""

import struct
from collections.abc import Iterator, Sequence
from typing import Any

from service.errors import InvalidRequestError
from service.protocols.v2_messages import V2Tensor
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
