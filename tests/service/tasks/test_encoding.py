"""Base64 as requests carry it: a bare string or a `{"b64": ...}` object."""

import re

import pytest

from service.errors import EncodingError
from service.runtime.errors import InvalidInputError
from service.tasks.encoding import b64_bytes, decode_b64


def test_valid_base64_decodes():
    assert b64_bytes("aGk=", "x") == b"hi"
    assert decode_b64({"b64": "aGk="}, "x") == b"hi"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: b64_bytes(3, "data[0]"), "data[0] must be a base64 string, not int"),
        (lambda: b64_bytes("!!", "data[0]"), "data[0] is not valid base64"),
        (lambda: decode_b64({"b64": "aGk=", "x": 1}, "images[0]"), "images[0] must be"),
        (lambda: decode_b64({"b64": "!!"}, "images[0]"), "images[0].b64 is not valid base64"),
    ],
)
def test_malformed_wrapping_is_invalid_input(call, message):
    with pytest.raises(EncodingError, match=re.escape(message)) as info:
        call()
    assert isinstance(info.value, InvalidInputError)
