"""libspng decodes plain PNGs to exactly Pillow's pixels; everything else stays with Pillow."""

import importlib.util
import io
import re
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from service.preprocessing import decode as decoding
from service.preprocessing.decode import open_image, plain_png
from service.preprocessing.errors import ImageDecodeError, ImageTooLargeError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pyspng") is None, reason="pyspng is not installed"
)


def _png(mode: str, size: tuple[int, int], seed: int = 0, **options: Any) -> bytes:
    generator = np.random.default_rng(seed)
    channels = len(mode)
    pixels = generator.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def _pillow(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(28, 28), (1, 1), (40, 17), (333, 250)])
@pytest.mark.parametrize("options", [{}, {"optimize": True}, {"compress_level": 0}])
def test_plain_pngs_decode_to_pillows_pixels(mode, size, options):
    data = _png(mode, size, **options)
    assert plain_png(data) == (*size, mode)
    image, image_format, original = open_image(data, 10**8)
    reference = _pillow(data)
    assert (image.mode, image.size, image_format, original) == (mode, size, "PNG", size)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(reference))


def test_pngs_with_transparency_text_palette_or_16_bit_go_to_pillow():
    gray = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), "L")
    cases = {}
    variants: list[tuple[str, Image.Image, dict[str, Any]]] = [
        ("palette", gray.convert("P"), {}),
        ("transparency", gray, {"transparency": 7}),
        ("16-bit", Image.fromarray(np.full((8, 8), 999, np.uint16)), {}),
    ]
    for name, image, options in variants:
        out = io.BytesIO()
        image.save(out, "PNG", **options)
        cases[name] = out.getvalue()
    text = PngImagePlugin.PngInfo()
    text.add_text("Raw profile type exif", "orientation")
    out = io.BytesIO()
    gray.save(out, "PNG", pnginfo=text)
    cases["text"] = out.getvalue()
    for name, data in cases.items():
        assert plain_png(data) is None, name
        image, _, _ = open_image(data, 10**8)
        np.testing.assert_array_equal(np.asarray(image), np.asarray(_pillow(data)), name)


def test_broken_pngs_get_pillows_errors(monkeypatch):
    data = _png("L", (64, 64))
    for broken in (data[:-30], data[:60], data[:40] + b"\x00" * 20 + data[60:]):
        with pytest.raises(ImageDecodeError) as fast:
            open_image(broken, 10**8)
        with monkeypatch.context() as patched:
            patched.setattr(decoding, "pyspng", None)
            with pytest.raises(ImageDecodeError) as slow:
                open_image(broken, 10**8)
        address = re.compile("0x[0-9a-f]+")  # Pillow names the buffer object
        assert address.sub("", str(fast.value)) == address.sub("", str(slow.value))


def test_the_size_limit_holds_before_any_decoding():
    with pytest.raises(ImageTooLargeError, match="at most 100 accepted"):
        open_image(_png("L", (20, 20)), 100)


def _digit_png(size: tuple[int, int], light_paper: bool) -> bytes:
    """A stroke on a plain background, so the border decides the polarity."""
    height, width = size
    pixels = np.full((height, width), 250 if light_paper else 3, dtype=np.uint8)
    pixels[height // 4 : 3 * height // 4, width // 3 : width // 2] = 10 if light_paper else 240
    out = io.BytesIO()
    Image.fromarray(pixels, "L").save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("light_paper", [False, True])
@pytest.mark.parametrize("size", [(28, 28), (20, 36)])
def test_gray_uploads_at_the_models_size_skip_pillow_with_the_same_result(
    monkeypatch, size, light_paper
):
    from service.card import ImageSpec
    from service.preprocessing import images

    spec = ImageSpec(size=size, color="gray", resize="mnist", scale="unit", polarity="auto")
    data = _digit_png(size, light_paper)
    assert decoding.plain_gray_png(data, size, 10**6) is not None
    fast = images.prepare_image(data, spec)
    monkeypatch.setattr(images, "plain_gray_png", lambda *args: None)
    pillow = images.prepare_image(data, spec)
    assert fast.pixels.tobytes() == pillow.pixels.tobytes()
    assert fast.pixels.shape == pillow.pixels.shape == (*size, 1)
    assert fast.pixels.dtype == pillow.pixels.dtype
    assert (fast.inverted, fast.format, fast.original_size) == (
        pillow.inverted,
        pillow.format,
        pillow.original_size,
    )
    assert fast.inverted is light_paper
    assert fast.preview().tobytes() == pillow.preview().tobytes()


def test_the_gray_fast_path_takes_only_plain_gray_pngs_at_the_models_size():
    gray = _digit_png((28, 28), False)
    assert decoding.plain_gray_png(gray, (28, 28), 10**6) is not None
    assert decoding.plain_gray_png(gray, (28, 29), 10**6) is None  # another size
    assert decoding.plain_gray_png(gray, (28, 28), 100) is None  # over the pixel limit
    assert decoding.plain_gray_png(_png("RGB", (28, 28)), (28, 28), 10**6) is None
    assert decoding.plain_gray_png(_png("L", (28, 28), transparency=0), (28, 28), 10**6) is None


def test_many_gray_uploads_are_judged_and_decoded_as_one_at_a_time():
    """`plain_gray_pngs` accepts exactly what `plain_gray_png` accepts, to the same bytes."""
    gray = Image.fromarray(np.arange(784, dtype=np.uint16).reshape(28, 28).astype(np.uint8), "L")
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "hello")
    variants: list[tuple[Image.Image, dict[str, Any]]] = [
        (gray, {}), (gray, {"optimize": True}), (gray, {"compress_level": 0}),
        (gray, {"transparency": 3}), (gray, {"pnginfo": text}), (gray, {"interlace": 1}),
        (gray.convert("RGB"), {}), (gray.convert("P"), {}), (gray.resize((28, 27)), {}),
        (Image.fromarray(np.full((28, 28), 999, np.uint16)), {}),
    ]  # fmt: skip
    uploads = []
    for image, options in variants:
        out = io.BytesIO()
        image.save(out, "PNG", **options)
        uploads.append(out.getvalue())
    good = uploads[0]
    uploads += [good[:-30], good[:60], good[:28], good[:24], b"", b"GIF89a", good[:33] + b"\0" * 9]
    batch = decoding.plain_gray_pngs(uploads, (28, 28), 10**6)
    assert sum(pixels is not None for pixels in batch) >= 3
    for index, data in enumerate(uploads):
        alone, together = decoding.plain_gray_png(data, (28, 28), 10**6), batch[index]
        if alone is None or together is None:
            assert alone is None and together is None, index
        else:
            assert together.tobytes() == alone.tobytes(), index
    assert decoding.plain_gray_pngs(uploads[:3], (28, 28), 700) == [None] * 3


def test_an_interlaced_gray_png_is_left_to_pillow_by_both():
    """Pillow cannot write Adam7; a 1x1 picture is the same bytes either way, so setting
    the flag (and the IHDR's CRC) makes a valid interlaced PNG libspng would decode."""
    out = io.BytesIO()
    import pyspng

    Image.new("L", (1, 1), 77).save(out, "PNG")
    data = bytearray(out.getvalue())
    data[28] = 1
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    interlaced = bytes(data)
    assert pyspng.load(interlaced).tolist() == [[77]]
    assert decoding.plain_gray_png(interlaced, (1, 1), 10) is None
    assert decoding.plain_gray_pngs([interlaced], (1, 1), 10) == [None]
