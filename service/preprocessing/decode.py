"""Untrusted bytes -> one upright Pillow image, or a typed error.

Every policy shares these guards, so a model's resize or colour settings cannot
weaken them:

1. Only the header is parsed before the size check, so a decompression bomb is
   refused before any pixel is decoded (Pillow's own bomb guard maps to the same error).
2. Only the first frame of an animation is decoded.
3. JPEGs may be decoded at 1/2..1/8 scale (libjpeg's DCT scaling) when the caller
   says how small the result will be; that is most of the cost of a camera photo.
4. The EXIF orientation is applied, since cameras store pictures sideways.

Plain PNGs (8-bit gray, RGB or RGBA, not interlaced, no transparency chunk, no text or
EXIF chunks that could carry an orientation) are decoded by libspng (`pyspng`) when it
is installed: about 20 us for a 28x28 upload where Pillow's Python-level parser takes
80, most of a small request's decoding. The pixels are the same (PNG is lossless; tests
compare both decoders); anything unusual, and any libspng error, goes to Pillow, so
errors read the same.
"""

import io
import struct
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from service.preprocessing.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)

SUPPORTED_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp", "image/bmp", "image/gif")
# MPO is how Pillow names camera JPEGs that carry a second (preview) picture.
_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WEBP", "BMP": "BMP", "GIF": "GIF"}
_ORIENTATION = 0x0112
# Where Pillow finds an orientation; absent keys spare the EXIF parse (most uploads).
_ORIENTATION_SOURCES = frozenset({"exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif"})


class Draft(NamedTuple):
    """Let libjpeg decode straight to `mode`, at the smallest scale still >= `size` (w, h)."""

    mode: str
    size: tuple[int, int]


def decode(
    data: bytes, max_pixels: int, draft: Draft | None = None
) -> tuple[Image.Image, str, tuple[int, int]]:
    """The upright first frame, its format name and its (width, height) as uploaded.

    Raises ``ImageTooLargeError``, ``UnsupportedImageFormatError`` or ``ImageDecodeError``.
    """
    image, image_format, original_size = open_image(data, max_pixels, draft)
    return upright(image), image_format, original_size


def open_image(
    data: bytes, max_pixels: int, draft: Draft | None = None
) -> tuple[Image.Image, str, tuple[int, int]]:
    """Parse the header, check format and size, then decode the first frame."""
    plain = plain_png(data)
    if plain is not None and plain[0] * plain[1] <= max_pixels:
        image = _spng_decode(data, plain)
        if image is not None:
            return image, "PNG", (plain[0], plain[1])
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
    if draft is not None and image_format == "JPEG":
        image.draft(draft.mode, draft.size)
    try:
        image.load()
    except Exception as exc:
        raise ImageDecodeError(f"corrupt or truncated {image_format} image: {exc}") from exc
    return image, image_format, (width, height)


def upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag, if any."""
    if _ORIENTATION_SOURCES.isdisjoint(image.info):
        return image
    if image.getexif().get(_ORIENTATION, 1) in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(image)
    return image


try:
    import pyspng
except ImportError:  # the `serve` extra installs it; Pillow decodes everything without
    pyspng = None

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PLAIN_COLOR_TYPES = {0: "L", 2: "RGB", 6: "RGBA"}
# Chunks after which Pillow's image would differ from the bare pixels: transparency
# (composited later), and text or EXIF that may hold an orientation.
_NOT_PLAIN = frozenset({b"tRNS", b"eXIf", b"tEXt", b"zTXt", b"iTXt"})


def plain_png(data: bytes) -> tuple[int, int, str] | None:
    """(width, height, mode) of a PNG libspng may decode for Pillow, else None."""
    if pyspng is None or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    try:
        width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    except struct.error:
        return None
    mode = _PLAIN_COLOR_TYPES.get(color)
    if mode is None or depth != 8 or interlace != 0 or not width or not height:
        return None
    offset = 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind in _NOT_PLAIN:
            return None
        if kind == b"IDAT":
            return width, height, mode
        offset += 12 + length
    return None


def plain_gray_png(data: bytes, size: tuple[int, int], max_pixels: int) -> NDArray[np.uint8] | None:
    """The [h, w] bytes of a plain 8-bit gray PNG of exactly `size` (h, w), else None.

    The digit classifiers' usual upload needs no Pillow image at all: wrapping libspng's
    array as one and reading it back cost as much as decoding it.
    """
    if data[16:24] != struct.pack(">II", size[1], size[0]) or data[25:26] != b"\x00":
        return None  # another size or colour type, told by the header: no chunk scan twice
    plain = plain_png(data)
    if plain is None or plain[2] != "L" or (plain[1], plain[0]) != size:
        return None
    if size[0] * size[1] > max_pixels:
        return None  # the general path refuses it, with the usual message
    pixels = _spng_pixels(data, plain)
    return None if pixels is None else pixels.reshape(size)


def plain_gray_pngs(
    datas: list[bytes], size: tuple[int, int], max_pixels: int
) -> list[NDArray[np.uint8] | None]:
    """`plain_gray_png` for many uploads at once, with its per-call checks done once.

    Exactly the uploads `plain_gray_png` accepts are decoded, to the same bytes: the
    IHDR must say 8-bit gray of this size, not interlaced, and no chunk before the
    first IDAT may carry transparency, text or EXIF.
    """
    height, width = size
    if pyspng is None or height * width > max_pixels:
        return [None] * len(datas)
    header = PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR" + struct.pack(">II", width, height)
    found: list[NDArray[np.uint8] | None] = []
    for data in datas:
        pixels = None
        plain = len(data) > 28 and data.startswith(header)
        if plain and data[24] == 8 and data[25] == 0 and data[28] == 0:
            pixels = _spng_pixels(data, (width, height, "L")) if _before_idat(data) else None
        found.append(None if pixels is None else pixels.reshape(size))
    return found


def _before_idat(data: bytes) -> bool:
    """Whether an IDAT comes before any chunk that makes a PNG not plain (`_NOT_PLAIN`)."""
    offset, end = 8, len(data)
    while offset + 8 <= end:
        length, kind = _CHUNK.unpack_from(data, offset)
        if kind in _NOT_PLAIN:
            return False
        if kind == b"IDAT":
            return True
        offset += 12 + length
    return False


_CHUNK = struct.Struct(">I4s")


def _spng_decode(data: bytes, plain: tuple[int, int, str]) -> Any:
    """The pixels as a Pillow image, or None for Pillow to try (and word any error)."""
    pixels = _spng_pixels(data, plain)
    if pixels is None:
        return None
    width, height, mode = plain
    return Image.frombuffer(mode, (width, height), pixels, "raw", mode, 0, 1)


def _spng_pixels(data: bytes, plain: tuple[int, int, str]) -> NDArray[np.uint8] | None:
    """libspng's [h, w(, c)] array when it matches the header, else None (Pillow decides)."""
    width, height, mode = plain
    try:
        pixels: NDArray[np.uint8] = pyspng.load(data)
    except Exception:  # libspng refuses: Pillow decides, with its own message
        return None
    channels = len(mode)
    if pixels.shape[:2] != (height, width) or (pixels.shape[2:] or (1,))[0] != channels:
        return None
    return pixels
