"""PNG encoding of generated images and model inputs (decoding lives in `preprocessing`).

Generators return float images in [0, 1] shaped [N, H, W, 1]; clients get either one
PNG per image or one grid that is easy to eyeball in a browser.
"""

import io
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

GRID_PADDING = 2


def to_uint8(images: NDArray[Any]) -> NDArray[np.uint8]:
    """[N, H, W(, 1)] floats in [0, 1] -> [N, H, W] bytes (clipped, rounded)."""
    squeezed = images.reshape(images.shape[:3]) if images.ndim == 4 else images
    return np.clip(np.rint(squeezed * 255.0), 0, 255).astype(np.uint8)


def png_bytes(pixels: NDArray[np.uint8]) -> bytes:
    """One [H, W] or [H, W, 1|3|4] image (gray, RGB, RGBA) as PNG."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def grid(pixels: NDArray[np.uint8], padding: int = GRID_PADDING) -> NDArray[np.uint8]:
    """Tile [N, H, W] images into a near-square grid with dark padding between them."""
    count, height, width = pixels.shape
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    canvas = np.zeros(
        (rows * (height + padding) + padding, columns * (width + padding) + padding), np.uint8
    )
    for index in range(count):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        canvas[top : top + height, left : left + width] = pixels[index]
    return canvas
