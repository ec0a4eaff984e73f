"""Small helpers shared by the HTTP tests."""

import io
from typing import Any

import numpy as np
from PIL import Image

from service.api.problems import PROBLEM_MEDIA_TYPE


def png_bytes(value: int = 200, size: tuple[int, int] = (28, 28), background: int = 0) -> bytes:
    """A grayscale PNG: a bright square on a dark background (MNIST polarity)."""
    pixels = np.full((size[1], size[0]), background, np.uint8)
    pixels[size[1] // 4 : 3 * size[1] // 4, size[0] // 4 : 3 * size[0] // 4] = value
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code", "request_id", "error"}


def assert_problem(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:kerasserve:problem:{code}"
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body
