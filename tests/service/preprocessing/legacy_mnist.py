"""A frozen copy of `service.preprocessing.images` before `ImageSpec` (commit a082ccc).

The reference the `mnist` policy is held to, bit for bit, for gray 28x28 unit float32
cards. Do not edit: a change here would hide a change in what the zoo's digit
classifiers receive.
"""

import io
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from service.preprocessing.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)

SIDE = 28
SUPPORTED_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp", "image/bmp", "image/gif")
# MPO is how Pillow names camera JPEGs that carry a second (preview) picture.
_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WEBP", "BMP": "BMP", "GIF": "GIF"}
_WIDE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_ORIENTATION = 0x0112
# Where Pillow finds an orientation; absent keys spare the EXIF parse (most uploads).
_ORIENTATION_SOURCES = frozenset({"exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif"})

Polarity = Literal["auto", "invert", "keep"]


@dataclass(frozen=True)
class PreparedImage:
    pixels: NDArray[np.float32]  # [28, 28, 1], light strokes on dark, in [0, 1]
    inverted: bool
    original_size: tuple[int, int]  # (width, height) as uploaded
    format: str  # PNG, JPEG, WEBP, BMP or GIF


def prepare_image(
    data: bytes, *, polarity: Polarity = "auto", max_pixels: int = 40_000_000
) -> PreparedImage:
    """Decode ``data`` and shape it like an MNIST digit; see the module docstring.

    Raises ``ImageTooLargeError``, ``UnsupportedImageFormatError`` or ``ImageDecodeError``.
    """
    if polarity not in ("auto", "invert", "keep"):
        raise ValueError(f"polarity must be auto, invert or keep, not {polarity!r}")
    image, image_format, original_size = _open(data, max_pixels)
    gray = _grayscale(_upright(image))
    pixels, background = _fit(gray)
    inverted = polarity == "invert" or (polarity == "auto" and background > 0.5)
    if inverted:
        pixels = 1.0 - pixels
    return PreparedImage(pixels.reshape(SIDE, SIDE, 1), inverted, original_size, image_format)


def _open(data: bytes, max_pixels: int) -> tuple[Image.Image, str, tuple[int, int]]:
    """Parse the header, check format and size, then decode the first frame."""
    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image refused as a decompression bomb: {exc}") from exc
    except Exception as exc:  # any parser failure on untrusted bytes is a bad upload
        raise ImageDecodeError(f"not a decodable image: {exc}") from exc
    image_format = _FORMATS.get(image.format or "")
    if image_format is None:
        supported = ", ".join(SUPPORTED_MEDIA_TYPES)
        raise UnsupportedImageFormatError(f"image format {image.format} is not one of {supported}")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels; at most {max_pixels} accepted"
        )
    if image_format == "JPEG":
        image.draft("L", (SIDE, SIDE))  # let libjpeg decode at 1/2..1/8 scale, in gray
    try:
        image.load()
    except Exception as exc:
        raise ImageDecodeError(f"corrupt or truncated {image_format} image: {exc}") from exc
    return image, image_format, (width, height)


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag, if any (cameras store pictures sideways)."""
    if _ORIENTATION_SOURCES.isdisjoint(image.info):
        return image
    if image.getexif().get(_ORIENTATION, 1) in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(image)
    return image


def _grayscale(image: Image.Image) -> Image.Image:
    """An "L" (0..255) or, for 16-bit and alpha sources, an "F" image on the same scale."""
    mode = image.mode
    if mode == "L" and "transparency" not in image.info:
        return image
    if mode in _WIDE_MODES:
        return _wide_to_float(image)
    if mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite(image)
    if mode == "CMYK":
        image = image.convert("RGB")
    return image.convert("L")


def _wide_to_float(image: Image.Image) -> Image.Image:
    """16/32-bit integer or float pixels, rescaled to 0..255 floats."""
    values = np.asarray(image, dtype=np.float32)
    top = float(values.max(initial=0.0))
    if image.mode.startswith("I;16") or (image.mode == "I" and top <= 65535):
        scale = 255.0 / 65535.0
    else:
        scale = 255.0 / top if top > 1.0 else 255.0
    return Image.fromarray(np.clip(values * scale, 0.0, 255.0))


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


def _fit(gray: Image.Image) -> tuple[NDArray[np.float32], float]:
    """Fit into SIDE x SIDE keeping the aspect ratio, centred; return it and its background."""
    width, height = gray.size
    if (width, height) != (SIDE, SIDE):
        scale = SIDE / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        gray = gray.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.asarray(gray, dtype=np.float32) * np.float32(1.0 / 255.0)
    border = np.concatenate((pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]))
    middle = border.size // 2
    background = float(np.partition(border, middle)[middle])  # the (upper) median
    if pixels.shape != (SIDE, SIDE):
        rows, cols = pixels.shape
        canvas = np.full((SIDE, SIDE), background, dtype=np.float32)
        top, left = (SIDE - rows) // 2, (SIDE - cols) // 2
        canvas[top : top + rows, left : left + cols] = pixels
        pixels = canvas
    elif gray.mode == "L":
        return pixels, background  # already in [0, 1]: Lanczos on "L" clamps
    return np.clip(pixels, 0.0, 1.0, out=pixels), background
