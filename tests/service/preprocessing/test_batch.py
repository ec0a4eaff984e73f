"""A batch gives every upload exactly what `prepare_image` gives it alone, bit for bit."""

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from service.card import MNIST_IMAGE, CustomScale, ImageSpec, Polarity
from service.preprocessing.batch import PreparedBatch, assemble, prepare_part
from service.preprocessing.errors import ImageDecodeError, UnsupportedImageFormatError
from service.preprocessing.images import PreparedImage, prepare_image
from tests.service.preprocessing.test_images import dark_on_light, encode, sixteen_bit

ZOO = Path(__file__).resolve().parents[2] / "data" / "images" / "zoo"
LIMIT = 40_000_000


def _gray_png(pixels: np.ndarray) -> bytes:
    return encode(Image.fromarray(pixels, "L"), "PNG")


def split_border(light: int) -> np.ndarray:
    """28x28 whose border ring of 108 pixels holds `light` light ones: 54 or more make
    the upper median light (inverted under auto), 53 or fewer keep it dark."""
    pixels = np.full((28, 28), 20, np.uint8)
    ring = [(0, c) for c in range(28)] + [(27, c) for c in range(28)]
    ring += [(r, 0) for r in range(1, 27)] + [(r, 27) for r in range(1, 27)]
    for row, column in ring[:light]:
        pixels[row, column] = 200
    pixels[8:20, 12:16] = 128
    return pixels


def digits(count: int = 12) -> list[bytes]:
    """Plain gray 28x28 PNGs: light on dark, dark on light, borders split near their
    median, one blank."""
    generator = np.random.default_rng(7)
    uploads = [_gray_png(split_border(light)) for light in (53, 54, 55)]
    for index in range(count - 4):
        pixels = generator.integers(0, 90, (28, 28), dtype=np.uint8)
        pixels[6:22, 10:18] = generator.integers(160, 256, (16, 8), dtype=np.uint8)
        uploads.append(_gray_png(255 - pixels if index % 3 == 0 else pixels))
    uploads.append(_gray_png(np.zeros((28, 28), np.uint8)))
    return uploads


def others() -> list[bytes]:
    """Everything that is not a plain gray PNG at the model's size."""
    zoo = [path.read_bytes() for path in sorted(ZOO.iterdir())]
    rgb = np.random.default_rng(3).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    return [
        *zoo,
        encode(Image.fromarray(dark_on_light(), "L"), "PNG"),
        encode(Image.fromarray(rgb, "RGB"), "JPEG", quality=90),
        sixteen_bit(),
    ]


def mixed() -> list[bytes]:
    """Digits and other uploads interleaved, so the batch path merges both in order."""
    digit, other = digits(), others()
    return [item for pair in zip(digit, other, strict=False) for item in pair] + digit[len(other) :]


def batch_of(
    uploads: list[bytes], spec: ImageSpec, dtype: str, polarity: Polarity | None, parts: int = 1
) -> PreparedBatch:
    size = -(-len(uploads) // parts)
    runs = [uploads[start : start + size] for start in range(0, len(uploads), size)]
    return assemble([prepare_part(run, spec, polarity, LIMIT) for run in runs], spec, dtype)


def assert_identical(actual: PreparedImage, expected: PreparedImage) -> None:
    assert actual.pixels.dtype == expected.pixels.dtype
    assert actual.pixels.shape == expected.pixels.shape
    assert actual.pixels.tobytes() == expected.pixels.tobytes()  # NaN-safe, bit for bit
    np.testing.assert_array_equal(actual.preview(), expected.preview())
    assert (actual.inverted, actual.original_size, actual.format) == (
        expected.inverted,
        expected.original_size,
        expected.format,
    )


SPECS: dict[str, ImageSpec] = {
    "zoo digits": MNIST_IMAGE,
    "mnist float64 tf": MNIST_IMAGE.model_copy(update={"scale": "tf"}),
    "mnist rgb 32": ImageSpec(size=(32, 32), color="rgb", resize="mnist", scale="torch"),
    "mnist gray no antialias": MNIST_IMAGE.model_copy(update={"antialias": False}),
    "stretch rgb 96": ImageSpec(size=(96, 96), color="rgb", resize="stretch", scale="caffe"),
    "pad gray": ImageSpec(size=(20, 30), color="gray", resize="pad", scale="unit"),
    "crop rgba custom": ImageSpec(
        size=(24, 24), color="rgba", resize="crop", scale=CustomScale(factor=0.5, mean=(3.0,))
    ),
}


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("polarity", [None, "auto", "invert", "keep"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8"])
def test_every_row_is_what_prepare_image_gives_alone(name: str, polarity: Any, dtype: str) -> None:
    spec = SPECS[name]
    uploads = mixed()
    batch = batch_of(uploads, spec, dtype, polarity)
    assert batch.pixels.shape[0] == len(uploads)
    for index, data in enumerate(uploads):
        alone = prepare_image(data, spec, dtype=dtype, max_pixels=LIMIT, polarity=polarity)
        assert_identical(batch.image(index), alone)
        assert batch.pixels[index].tobytes() == alone.pixels.tobytes()


@pytest.mark.parametrize("parts", [1, 2, 5])
@pytest.mark.parametrize("uploads", [digits, mixed, others], ids=lambda f: f.__name__)
def test_parts_assemble_to_the_same_batch(parts: int, uploads: Any) -> None:
    spec = MNIST_IMAGE.model_copy(update={"polarity": "auto"})
    whole = batch_of(uploads(), spec, "float32", None)
    split = batch_of(uploads(), spec, "float32", None, parts)
    assert split.pixels.tobytes() == whole.pixels.tobytes()
    assert (split.inverted, split.original_sizes, split.formats) == (
        whole.inverted,
        whole.original_sizes,
        whole.formats,
    )


def test_digits_fitted_together_invert_dark_on_light_ones() -> None:
    spec = MNIST_IMAGE.model_copy(update={"polarity": "auto"})
    batch = batch_of(digits(), spec, "float32", None)
    expected = [False, True, True] + [index % 3 == 0 for index in range(8)] + [False]
    assert batch.inverted == expected
    assert batch.formats == ["PNG"] * 12 and batch.original_sizes == [(28, 28)] * 12


def test_the_first_bad_upload_is_the_error() -> None:
    good = digits(3)
    with pytest.raises(ImageDecodeError):
        prepare_part([*good, b"\x89PNG\r\n\x1a\n broken", b"GIF89a"], MNIST_IMAGE, None, LIMIT)
    with pytest.raises(UnsupportedImageFormatError):
        tiff = io.BytesIO()
        Image.new("L", (4, 4)).save(tiff, "TIFF")
        prepare_part([*good, tiff.getvalue(), b"junk"], MNIST_IMAGE, None, LIMIT)


def test_an_unknown_polarity_is_refused_like_prepare_image() -> None:
    with pytest.raises(ValueError, match="polarity"):
        prepare_part(digits(2), MNIST_IMAGE, "upside-down", LIMIT)  # type: ignore[arg-type]
