import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

from service.preprocessing.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)
from service.preprocessing.images import SUPPORTED_MEDIA_TYPES, prepare_image
from service.runtime.errors import InvalidInputError


def encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def ink_mask(size: int = 56) -> np.ndarray:
    """A vertical stroke: columns 20..35, rows 8..47 of a size x size picture."""
    mask = np.zeros((size, size), dtype=bool)
    mask[8:48, 20:36] = True
    return mask


def dark_on_light() -> np.ndarray:
    return np.where(ink_mask(), 0, 255).astype(np.uint8)


def assert_light_stroke_on_dark(pixels: np.ndarray) -> None:
    """After fitting 56 -> 28 the stroke covers rows 4..23, columns 10..17."""
    assert pixels.shape == (28, 28, 1) and pixels.dtype == np.float32
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0
    assert pixels[14, 14, 0] > 0.7, "stroke should be light"
    assert pixels[14, 3, 0] < 0.3 and pixels[1, 14, 0] < 0.3, "background should be dark"


def rgba_transparent_background() -> bytes:
    rgba = np.zeros((56, 56, 4), dtype=np.uint8)  # transparent black everywhere...
    rgba[..., 3] = np.where(ink_mask(), 255, 0)  # ...except opaque black ink
    return encode(Image.fromarray(rgba), "PNG")


def la_transparent_background() -> bytes:
    la = np.zeros((56, 56, 2), dtype=np.uint8)
    la[..., 1] = np.where(ink_mask(), 255, 0)
    return encode(Image.fromarray(la, "LA"), "PNG")


def palette_with_transparency() -> bytes:
    image = Image.fromarray(np.where(ink_mask(), 1, 0).astype(np.uint8), "P")
    image.putpalette([255, 255, 255, 0, 0, 0])  # index 0 (transparent) is white anyway
    return encode(image, "PNG", transparency=0)


def sixteen_bit() -> bytes:
    image = Image.fromarray(np.where(ink_mask(), 0, 65535).astype(np.uint16))
    assert image.mode.startswith("I;16")
    return encode(image, "PNG")


def cmyk_jpeg() -> bytes:
    cmyk = np.zeros((56, 56, 4), dtype=np.uint8)
    cmyk[..., 3] = np.where(ink_mask(), 255, 0)  # K channel: black ink on white paper
    return encode(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95)


def one_bit() -> bytes:
    return encode(Image.fromarray(dark_on_light()).convert("1"), "PNG")


def rgb_webp() -> bytes:
    rgb = np.repeat(dark_on_light()[..., None], 3, axis=2)
    return encode(Image.fromarray(rgb), "WEBP", lossless=True)


def animated_gif() -> bytes:
    first = Image.fromarray(dark_on_light()).convert("P")
    second = Image.fromarray(np.full((56, 56), 0, np.uint8)).convert("P")  # all black
    return encode(first, "GIF", save_all=True, append_images=[second], duration=50, loop=0)


def bmp() -> bytes:
    return encode(Image.fromarray(dark_on_light()), "BMP")


@pytest.mark.parametrize(
    "build",
    [
        rgba_transparent_background,
        la_transparent_background,
        palette_with_transparency,
        sixteen_bit,
        cmyk_jpeg,
        one_bit,
        rgb_webp,
        animated_gif,
        bmp,
    ],
)
def test_every_mode_becomes_a_light_stroke_on_dark(build: Callable[[], bytes]):
    prepared = prepare_image(build())
    assert prepared.inverted
    assert prepared.original_size == (56, 56)
    assert_light_stroke_on_dark(prepared.pixels)


def test_mnist_like_28x28_png_passes_through_unchanged():
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[5:23, 12:16] = 255
    prepared = prepare_image(encode(Image.fromarray(digit), "PNG"))
    assert not prepared.inverted and prepared.format == "PNG"
    np.testing.assert_allclose(prepared.pixels[..., 0], digit / 255.0, atol=1e-6)


def test_polarity_can_be_forced():
    data = encode(Image.fromarray(dark_on_light()), "PNG")
    kept = prepare_image(data, polarity="keep")
    assert not kept.inverted and kept.pixels[1, 14, 0] > 0.9 and kept.pixels[14, 14, 0] < 0.1
    light_on_dark = encode(Image.fromarray(255 - dark_on_light()), "PNG")
    forced = prepare_image(light_on_dark, polarity="invert")
    assert forced.inverted and forced.pixels[14, 14, 0] < 0.1
    assert not prepare_image(light_on_dark).inverted


def bright_box(pixels: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(pixels[..., 0] > 0.5)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_aspect_ratio_is_kept_and_the_image_centred():
    wide = np.zeros((50, 200), dtype=np.uint8)
    wide[20:30, 20:180] = 255
    prepared = prepare_image(encode(Image.fromarray(wide), "PNG"))
    height, width = bright_box(prepared.pixels)
    assert width >= 20 and height <= 3
    assert prepared.pixels[:8].max() < 0.1  # padding above the 28x7 picture


def test_exif_orientation_is_applied():
    wide = np.zeros((20, 60), dtype=np.uint8)
    wide[8:12, 5:55] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    data = encode(Image.fromarray(wide), "JPEG", exif=exif.tobytes(), quality=95)
    prepared = prepare_image(data)
    height, width = bright_box(prepared.pixels)
    assert height > 3 * width
    assert prepared.original_size == (60, 20) and prepared.format == "JPEG"


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims another size (a decompression bomb's first bytes)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_oversized_images_are_refused_before_decoding():
    with pytest.raises(ImageTooLargeError, match=r"decompression bomb|pixels"):
        prepare_image(png_claiming(100_000, 100_000))
    # Below Pillow's own limit: our limit decides, from the header alone (no pixel data here).
    with pytest.raises(ImageTooLargeError, match="3000x3000"):
        prepare_image(png_claiming(3000, 3000), max_pixels=1_000_000)
    with pytest.raises(ImageDecodeError):
        prepare_image(png_claiming(30, 30))


@pytest.mark.parametrize("data", [b"", b"garbage bytes, not an image", b"\x89PNG\r\n\x1a\n"])
def test_garbage_is_a_decode_error(data: bytes):
    with pytest.raises(ImageDecodeError):
        prepare_image(data)


def test_truncated_image_is_a_decode_error():
    data = encode(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)), "PNG"
    )
    with pytest.raises(ImageDecodeError, match=r"truncated|corrupt"):
        prepare_image(data[: len(data) // 2])


@pytest.mark.parametrize("image_format", ["TIFF", "ICO"])
def test_other_formats_are_unsupported(image_format: str):
    data = encode(Image.fromarray(dark_on_light()), image_format)
    with pytest.raises(UnsupportedImageFormatError, match=image_format):
        prepare_image(data)


def test_errors_are_invalid_input_and_media_types_are_listed():
    assert issubclass(ImageTooLargeError, InvalidInputError)
    assert set(SUPPORTED_MEDIA_TYPES) == {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/bmp",
        "image/gif",
    }
