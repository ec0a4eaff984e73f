"""The zoo's `mnist` policy: fit the whole picture into the target, centred on its background.

The digit classifiers were trained on light strokes on a dark background, centred in
a 28x28 square. For gray 28x28 targets this is, operation for operation, the
preprocessing the service always had (tests hold it to a frozen copy bit for bit);
other sizes and colours follow the same steps:

1. Colour: transparent areas are composited onto the opposite of the strokes' shade,
   so they become background; 16-bit sources are rescaled to 0..255. A gray source
   stays one band until the end, when it is repeated into R, G, B for colour targets.
2. Fit into the target keeping the aspect ratio (Lanczos unless the card says
   otherwise; Pillow, or TensorFlow's kernels with antialias=False), centred, padded
   with the border's upper median, per channel.
3. Values are [0, 1] floats; the caller inverts (polarity) and scales them.
"""

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from service.card import Color, Interpolation
from service.preprocessing import resize_like_tf
from service.preprocessing.color import (
    LUMA,
    WIDE_MODES,
    border,
    luminance,
    upper_median,
    wide_to_float,
    with_channels,
)
from service.preprocessing.resize import PIL_FILTERS

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_GRAY_MODES = frozenset({"1", "L", "LA", "La"}) | WIDE_MODES
_BYTE_MODES = frozenset({"L", "RGB", "RGBA"})
_UNIT = np.float32(1.0 / 255.0)


def fit(
    image: Image.Image,
    size: tuple[int, int],
    color: Color,
    interpolation: Interpolation = "lanczos",
    antialias: bool = True,
) -> tuple[NDArray[np.float32], float]:
    """[h, w, channels] float32 pixels in [0, 1] and the luminance of their background."""
    if color == "gray":  # the digit classifiers' case: as few steps as possible
        pixels, background = _fit(grayscale(image), size, interpolation, antialias)
        return pixels[..., None], float(background)
    pixels, background = _fit(_as_color(image, color), size, interpolation, antialias)
    return with_channels(pixels, color, 1.0), luminance(background)


def fit_gray_levels(levels: NDArray[np.uint8]) -> tuple[NDArray[np.float32], float]:
    """`fit` for gray bytes already at the target size: the same steps, without Pillow."""
    pixels = levels * _UNIT
    return pixels[..., None], float(upper_median(border(pixels)))


def _as_color(image: Image.Image, color: Literal["rgb", "rgba"]) -> Image.Image:
    """For colour targets; gray sources stay gray (`grayscale`) until the end."""
    if image.mode in _GRAY_MODES:
        return grayscale(image)
    if color == "rgba":
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite_rgb(image)
    return image if image.mode == "RGB" else image.convert("RGB")


def grayscale(image: Image.Image) -> Image.Image:
    """An "L" (0..255) or, for 16-bit and alpha sources, an "F" image on the same scale."""
    mode = image.mode
    if mode == "L" and "transparency" not in image.info:
        return image
    if mode in WIDE_MODES:
        return wide_to_float(image)
    if mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite(image)
    if mode == "CMYK":
        image = image.convert("RGB")
    return image.convert("L")


def _composite(image: Image.Image) -> Image.Image:
    """Flatten transparency onto the shade opposite to the visible (opaque) strokes."""
    if image.mode != "LA":
        image = image.convert("RGBA").convert("LA")
    values = np.asarray(image, dtype=np.float32)
    gray, alpha = values[..., 0], values[..., 1] * (1.0 / 255.0)
    coverage = float(alpha.sum())
    mean_ink = float((gray * alpha).sum()) / coverage if coverage else 0.0
    background = 255.0 if mean_ink < 127.5 else 0.0
    return Image.fromarray(gray * alpha + background * (1.0 - alpha))


def _composite_rgb(image: Image.Image) -> Image.Image:
    """`_composite` for colour targets: the ink's luma picks the shade, rounded to bytes."""
    values = np.asarray(image.convert("RGBA"), dtype=np.float32)
    rgb, alpha = values[..., :3], values[..., 3:] * (1.0 / 255.0)
    coverage = float(alpha.sum())
    mean_ink = float(((rgb @ LUMA)[..., None] * alpha).sum()) / coverage if coverage else 0.0
    background = 255.0 if mean_ink < 127.5 else 0.0
    flat = rgb * alpha + background * (1.0 - alpha)
    return Image.fromarray(np.rint(flat).astype(np.uint8), "RGB")


def _fit(
    image: Image.Image, size: tuple[int, int], interpolation: Interpolation, antialias: bool
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Fit into `size` keeping the aspect ratio, centred; return it and its background."""
    height, width = size
    resized: Image.Image | NDArray[np.float32] = image
    if image.size != (width, height):
        scale = min(width / image.width, height / image.height)
        fitted = (
            min(width, max(1, round(image.width * scale))),
            min(height, max(1, round(image.height * scale))),
        )
        resized = _resample(image, fitted, interpolation, antialias)
    pixels = _unit(resized)
    background = upper_median(border(pixels))
    if pixels.shape[:2] != size:
        rows, cols = pixels.shape[:2]
        canvas = np.full((height, width, *pixels.shape[2:]), background, dtype=np.float32)
        top, left = (height - rows) // 2, (width - cols) // 2
        canvas[top : top + rows, left : left + cols] = pixels
        pixels = canvas
    elif isinstance(resized, Image.Image) and resized.mode in _BYTE_MODES:
        return pixels, background  # already in [0, 1]: Pillow's filters clamp bytes
    return np.clip(pixels, 0.0, 1.0, out=pixels), background


def _unit(image: Image.Image | NDArray[np.float32]) -> NDArray[np.float32]:
    """Pixels / 255 in float32; "L" images straight from Pillow's buffer, which is
    cheaper than `np.asarray`'s array interface (a tenth of a 28x28 upload's cost)."""
    if isinstance(image, Image.Image) and image.mode == "L":
        levels = np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(image.height, -1)
        unit: NDArray[np.float32] = levels * _UNIT
        return unit
    return np.asarray(image, dtype=np.float32) * _UNIT


def _resample(
    image: Image.Image, fitted: tuple[int, int], interpolation: Interpolation, antialias: bool
) -> Image.Image | NDArray[np.float32]:
    """Pillow (reducing in two steps beyond 3x, as always), or TensorFlow's kernels."""
    if antialias:
        return image.resize(fitted, PIL_FILTERS[interpolation], reducing_gap=3.0)
    pixels = np.asarray(image)
    planes = pixels if pixels.ndim == 3 else pixels[..., None]
    resized = resize_like_tf.resize(planes, (fitted[1], fitted[0]), interpolation)
    return resized if pixels.ndim == 3 else resized[..., 0]
