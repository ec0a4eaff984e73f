"""The `mnist` policy against a frozen copy of the preprocessing it replaced, bit for bit."""

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from service.card import MNIST_IMAGE, ImageSpec, Polarity
from service.preprocessing.images import prepare_image
from tests.service.preprocessing import legacy_mnist
from tests.service.preprocessing.test_images import (
    animated_gif,
    bmp,
    cmyk_jpeg,
    encode,
    la_transparent_background,
    one_bit,
    palette_with_transparency,
    rgb_webp,
    rgba_transparent_background,
    sixteen_bit,
)

RNG_SEED = 20240607


def noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def gradient(height: int, width: int) -> np.ndarray:
    rows, cols = np.indices((height, width))
    return np.asarray((rows * 3 + cols * 5) % 256, dtype=np.uint8)


def rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8
    return encode(Image.fromarray(noise((40, 90, 3), 3)), "JPEG", exif=exif.tobytes())


def sample_photos() -> list[bytes]:
    datasets = pytest.importorskip("sklearn.datasets")
    photos = datasets.load_sample_images().images
    return [encode(Image.fromarray(photo), fmt) for photo in photos for fmt in ("PNG", "JPEG")]


INPUTS: dict[str, Callable[[], bytes]] = {
    "rgba": rgba_transparent_background,
    "la": la_transparent_background,
    "palette": palette_with_transparency,
    "16-bit": sixteen_bit,
    "cmyk": cmyk_jpeg,
    "1-bit": one_bit,
    "webp": rgb_webp,
    "gif": animated_gif,
    "bmp": bmp,
    "gray 28x28": lambda: encode(Image.fromarray(noise((28, 28), 1)), "PNG"),
    "gray 27x29": lambda: encode(Image.fromarray(noise((29, 27), 2)), "PNG"),
    "wide": lambda: encode(Image.fromarray(gradient(37, 100)), "PNG"),
    "tall": lambda: encode(Image.fromarray(gradient(300, 41)), "PNG"),
    "one row": lambda: encode(Image.fromarray(noise((1, 50), 4)), "PNG"),
    "one column": lambda: encode(Image.fromarray(noise((50, 1), 5)), "PNG"),
    "rgb 28x28 light": lambda: encode(Image.fromarray(255 - noise((28, 28, 3), 6) // 4), "PNG"),
    "jpeg 640x480": lambda: encode(Image.fromarray(noise((480, 640, 3), 7)), "JPEG"),
    "jpeg gray 123x457": lambda: encode(Image.fromarray(gradient(457, 123)), "JPEG"),
    "jpeg rotated": rotated_jpeg,
}


@pytest.mark.parametrize("polarity", ["auto", "invert", "keep"])
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_mnist_policy_is_bit_identical_to_the_old_preprocessing(name: str, polarity: Polarity):
    data = INPUTS[name]()
    assert_same(data, polarity)


@pytest.mark.parametrize("polarity", ["auto", "invert", "keep"])
def test_photos_are_bit_identical_too(polarity: Polarity):
    for data in sample_photos():
        assert_same(data, polarity)


def assert_same(data: bytes, polarity: Polarity) -> None:
    old = legacy_mnist.prepare_image(data, polarity=polarity)
    explicit = ImageSpec(
        size=(28, 28), color="gray", resize="mnist", interpolation="lanczos", scale="unit"
    )
    for spec in (MNIST_IMAGE, explicit):
        new = prepare_image(data, spec, polarity=polarity)
        assert new.pixels.dtype == old.pixels.dtype == np.float32
        assert new.pixels.shape == old.pixels.shape == (28, 28, 1)
        assert np.array_equal(new.pixels, old.pixels)
        assert new.inverted == old.inverted
        assert (new.original_size, new.format) == (old.original_size, old.format)


def test_the_spec_polarity_applies_when_the_request_gives_none():
    data = encode(Image.fromarray(gradient(60, 60)), "PNG")
    kept = prepare_image(data, MNIST_IMAGE.model_copy(update={"polarity": "keep"}))
    assert np.array_equal(kept.pixels, legacy_mnist.prepare_image(data, polarity="keep").pixels)
    assert not kept.inverted


def test_other_sizes_and_colours_fit_and_centre_on_the_border_median():
    picture = np.zeros((40, 80, 3), dtype=np.uint8)
    picture[...] = (200, 180, 160)  # light paper...
    picture[10:30, 20:60] = (20, 40, 60)  # ...with a dark block
    spec = ImageSpec(size=(32, 48), color="rgb", resize="mnist", scale="raw", polarity="keep")
    prepared = prepare_image(encode(Image.fromarray(picture), "PNG"), spec)
    assert prepared.pixels.shape == (32, 48, 3)
    # 80x40 fits as 48x24, centred: 4 rows of padding above and below, in the paper's colour.
    np.testing.assert_allclose(prepared.pixels[0, 0], (200, 180, 160), atol=0.5)
    np.testing.assert_allclose(prepared.pixels[16, 24], (20, 40, 60), atol=0.5)
    auto = prepare_image(encode(Image.fromarray(picture), "PNG"), spec, polarity="auto")
    assert auto.inverted  # light background
    np.testing.assert_allclose(auto.pixels[0, 0], (55, 75, 95), atol=0.5)
