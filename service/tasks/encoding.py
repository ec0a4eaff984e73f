"""Base64 as requests carry encoded images: a bare string, or TF Serving's `{"b64": ...}`.

Shared by the classify route and the protocol modules; a malformed wrapping is an
`EncodingError` (invalid input), never a problem with the image itself.
"""

import base64
import binascii

from service.errors import EncodingError


def b64_bytes(text: object, where: str) -> bytes:
    """The bytes of a base64 string; a clear invalid-input error for anything else."""
    if not isinstance(text, str):
        raise EncodingError(f"{where} must be a base64 string, not {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EncodingError(f"{where} is not valid base64: {exc}") from exc


def decode_b64(item: object, where: str) -> bytes:
    """The bytes of a `{"b64": "..."}` object (TF Serving's binary convention)."""
    if not isinstance(item, dict) or set(item) != {"b64"} or not isinstance(item["b64"], str):
        raise EncodingError(f'{where} must be {{"b64": "<base64 image>"}}')
    return b64_bytes(item["b64"], f"{where}.b64")
