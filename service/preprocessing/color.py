"""Colour modes and the pixel statistics that polarity and padding read.

For `stretch`, `crop` and `pad` the conversion is Pillow's `convert`, which is what
`keras.utils.load_img(color_mode=...)` does: alpha is dropped (not composited),
palette images take their palette colours, gray is ITU-R 601 luma. One difference:
16/32-bit sources are rescaled to 0..255 (`load_img` keeps 16-bit gray as raw
0..65535 values and clips it to 255 for RGB, which no 8-bit model expects).
"""

from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from service.card import Color

WIDE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
PIL_MODES: dict[Color, str] = {"gray": "L", "rgb": "RGB", "rgba": "RGBA"}
# Pillow's "L" conversion (ITU-R 601-2 luma), applied to the first three channels.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

ScalarT = TypeVar("ScalarT", bound=np.generic)


def to_color(image: Image.Image, color: Color) -> Image.Image:
    """`image` in Pillow mode L, RGB or RGBA; 16/32-bit sources become one "F" band (0..255)."""
    if image.mode in WIDE_MODES:
        return wide_to_float(image)
    mode = PIL_MODES[color]
    return image if image.mode == mode else image.convert(mode)


def wide_to_float(image: Image.Image) -> Image.Image:
    """16/32-bit integer or float pixels, rescaled to 0..255 floats."""
    values = np.asarray(image, dtype=np.float32)
    top = float(values.max(initial=0.0))
    if image.mode.startswith("I;16") or (image.mode == "I" and top <= 65535):
        scale = 255.0 / 65535.0
    else:
        scale = 255.0 / top if top > 1.0 else 255.0
    return Image.fromarray(np.clip(values * scale, 0.0, 255.0))


def with_channels(pixels: NDArray[ScalarT], color: Color, opaque: float) -> NDArray[ScalarT]:
    """[h, w] or [h, w, c] pixels as [h, w, channels of `color`].

    Only one-band sources (gray, 16-bit) need work: their gray is repeated into R, G
    and B, as Pillow's L -> RGB does, and a missing alpha is `opaque`.
    """
    if pixels.ndim == 3:
        return pixels
    plane = pixels[..., None]
    if color == "gray":
        return plane
    rgb = np.repeat(plane, 3, axis=2)
    if color == "rgb":
        return rgb
    return np.concatenate((rgb, np.full_like(plane, opaque)), axis=2)


def border(pixels: NDArray[ScalarT]) -> NDArray[ScalarT]:
    """The outermost ring of an [h, w, c] image as [n, c], each pixel once."""
    return np.concatenate((pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]))


def upper_median(values: NDArray[ScalarT]) -> NDArray[ScalarT]:
    """The upper median along axis 0: cheaper than `np.median` and always a real value."""
    middle = values.shape[0] // 2
    median: NDArray[ScalarT] = np.partition(values, middle, axis=0)[middle]
    return median


def luminance(channels: NDArray[np.generic]) -> float:
    """The luma of one colour given as 1 (gray), 3 (RGB) or 4 (RGBA) channel values."""
    if channels.size < 3:
        return float(channels.item(0))
    return float(np.dot(channels[:3].astype(np.float32), LUMA))
