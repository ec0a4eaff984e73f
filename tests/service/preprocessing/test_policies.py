"""`prepare_image` for every resize policy, colour, dtype and polarity, beyond MNIST."""

from typing import Any

import numpy as np
import pytest
from PIL import Image

from service.card import CHANNELS, Color, CustomScale, ImageSpec, Resize
from service.preprocessing.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)
from service.preprocessing.images import check_spec, prepare_image
from tests.service.preprocessing.test_images import (
    dark_on_light,
    encode,
    png_claiming,
    sixteen_bit,
)


def photo(height: int = 48, width: int = 64, channels: int = 3) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(height * width).integers(0, 256, shape, dtype=np.uint8)


def spec(**fields: Any) -> ImageSpec:
    defaults: dict[str, Any] = {"size": (48, 64), "color": "rgb", "scale": "raw"}
    return ImageSpec(**{**defaults, **fields})


@pytest.mark.parametrize("resize", ["stretch", "crop", "pad", "mnist"])
@pytest.mark.parametrize("antialias", [True, False])
def test_uint8_inputs_get_the_pixels_unchanged(resize: Resize, antialias: bool):
    pixels = photo()
    data = encode(Image.fromarray(pixels), "PNG")
    chosen = spec(resize=resize, antialias=antialias, scale="tf")
    prepared = prepare_image(data, chosen, dtype="uint8")
    assert prepared.pixels.dtype == np.uint8
    assert np.array_equal(prepared.pixels, pixels)  # already in size: nothing to do
    assert prepared.format == "PNG" and prepared.original_size == (64, 48)


def test_uint8_resized_is_what_pillow_gives():
    pixels = photo()
    data = encode(Image.fromarray(pixels), "PNG")
    prepared = prepare_image(data, spec(size=(24, 20)), dtype="uint8")
    expected = np.asarray(Image.fromarray(pixels).resize((20, 24), Image.Resampling.BILINEAR))
    assert np.array_equal(prepared.pixels, expected)


def test_float_dtypes_are_scaled_then_cast():
    data = encode(Image.fromarray(photo()), "PNG")
    single = prepare_image(data, spec(scale="tf")).pixels
    half = prepare_image(data, spec(scale="tf"), dtype="float16").pixels
    assert single.dtype == np.float32 and half.dtype == np.float16
    assert single.min() >= -1.0 and single.max() <= 1.0
    np.testing.assert_allclose(half, single, atol=1e-3)


@pytest.mark.parametrize("color", ["gray", "rgb", "rgba"])
@pytest.mark.parametrize("resize", ["stretch", "pad", "mnist"])
def test_preview_is_the_unscaled_input_at_the_models_size_and_colour(color: Color, resize: Resize):
    data = encode(Image.fromarray(dark_on_light()), "PNG")
    chosen = spec(size=(20, 30), color=color, resize=resize, scale="torch", polarity="auto")
    prepared = prepare_image(data, chosen)
    as_bytes = prepare_image(data, chosen, dtype="uint8")
    preview = prepared.preview()
    assert preview.dtype == np.uint8
    assert preview.shape == prepared.pixels.shape == (20, 30, CHANNELS[color])
    assert prepared.inverted and as_bytes.inverted
    assert np.abs(preview.astype(int) - as_bytes.pixels).max() <= 1
    assert preview[..., :3].max() == 255  # the stroke, light after inversion


def test_mnist_preview_is_the_old_input_png():
    prepared = prepare_image(encode(Image.fromarray(dark_on_light()), "PNG"))
    expected = np.clip(np.rint(prepared.pixels * 255.0), 0, 255).astype(np.uint8)
    assert np.array_equal(prepared.preview(), expected)


def rgba_photo() -> np.ndarray:
    rgba = photo(channels=4)
    rgba[:, :32, 3] = 0  # the left half is transparent, over a colour Keras keeps
    return rgba


def test_rgba_keeps_alpha_and_rgb_drops_it_as_keras_does():
    rgba = rgba_photo()
    data = encode(Image.fromarray(rgba), "PNG")
    kept = prepare_image(data, spec(color="rgba"), dtype="uint8")
    assert np.array_equal(kept.pixels, rgba)
    dropped = prepare_image(data, spec(color="rgb"), dtype="uint8")
    assert np.array_equal(dropped.pixels, rgba[..., :3])  # Pillow's convert: no compositing


def test_inverting_rgba_leaves_alpha_alone():
    rgba = rgba_photo()
    data = encode(Image.fromarray(rgba), "PNG")
    inverted = prepare_image(data, spec(color="rgba"), dtype="uint8", polarity="invert")
    assert inverted.inverted
    assert np.array_equal(inverted.pixels[..., :3], 255 - rgba[..., :3])
    assert np.array_equal(inverted.pixels[..., 3], rgba[..., 3])


def test_gray_is_pillows_luma():
    pixels = photo()
    data = encode(Image.fromarray(pixels), "PNG")
    prepared = prepare_image(data, spec(color="gray"), dtype="uint8")
    assert np.array_equal(prepared.pixels[..., 0], np.asarray(Image.fromarray(pixels).convert("L")))


@pytest.mark.parametrize("resize", ["stretch", "crop", "pad"])
def test_polarity_reads_the_border_luminance(resize: Resize):
    data = encode(Image.fromarray(dark_on_light()), "PNG")
    chosen = spec(size=(28, 28), color="gray", resize=resize, scale="unit")
    assert not prepare_image(data, chosen).inverted  # the spec's default: keep
    auto = prepare_image(data, chosen, polarity="auto")
    assert auto.inverted and auto.pixels[14, 14, 0] > 0.9 and auto.pixels[1, 1, 0] < 0.1
    light_on_dark = encode(Image.fromarray(255 - dark_on_light()), "PNG")
    assert not prepare_image(light_on_dark, chosen, polarity="auto").inverted
    assert prepare_image(light_on_dark, chosen.model_copy(update={"polarity": "invert"})).inverted


def test_pad_judges_polarity_on_the_picture_and_pads_with_zeros():
    wide = np.full((20, 80), 230, np.uint8)  # light paper, letterboxed into a square
    wide[5:15, 10:70] = 10
    chosen = spec(size=(40, 40), color="gray", resize="pad", scale="tf", polarity="auto")
    prepared = prepare_image(encode(Image.fromarray(wide), "PNG"), chosen)
    assert prepared.inverted
    assert np.all(prepared.pixels[:10] == -1.0)  # zero padding, scaled like any 0
    assert prepared.pixels[20, 2, 0] < -0.5  # the inverted paper is dark too


def test_exif_orientation_and_16_bit_apply_to_every_policy():
    wide = np.zeros((20, 60), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(wide), "JPEG", exif=exif.tobytes(), quality=95)
    chosen = spec(size=(60, 20), color="gray", resize="crop")
    assert prepare_image(data, chosen).pixels.shape == (60, 20, 1)  # no crop needed: upright
    sixteen = prepare_image(sixteen_bit(), spec(size=(56, 56), color="rgb"), dtype="uint8")
    assert sixteen.pixels.max() == 255 and sixteen.pixels.min() == 0  # rescaled, not clipped
    assert np.array_equal(sixteen.pixels[..., 0], sixteen.pixels[..., 2])


@pytest.mark.parametrize("resize", ["stretch", "crop", "pad", "mnist"])
def test_every_policy_keeps_the_decoding_guards(resize: Resize):
    chosen = spec(resize=resize)
    with pytest.raises(ImageTooLargeError, match="3000x3000"):
        prepare_image(png_claiming(3000, 3000), chosen, max_pixels=1_000_000)
    with pytest.raises(ImageTooLargeError):
        prepare_image(png_claiming(100_000, 100_000), chosen)
    with pytest.raises(ImageDecodeError):
        prepare_image(b"garbage bytes, not an image", chosen)
    with pytest.raises(UnsupportedImageFormatError, match="TIFF"):
        prepare_image(encode(Image.fromarray(dark_on_light()), "TIFF"), chosen)


def test_unresolved_specs_and_unknown_polarities_are_refused():
    data = encode(Image.fromarray(dark_on_light()), "PNG")
    with pytest.raises(ValueError, match="resolved"):
        prepare_image(data, ImageSpec(size=(28, 28), color="gray"))
    with pytest.raises(ValueError, match="polarity"):
        prepare_image(data, polarity="sideways")  # type: ignore[arg-type]
    check_spec(spec(scale=CustomScale(mean=(0.5,))))
    with pytest.raises(ValueError, match="resolved"):
        check_spec(ImageSpec())
    with pytest.raises(ValueError, match=r"scale\.std"):
        check_spec(spec(color="gray", scale=CustomScale(std=(1.0, 2.0, 3.0))))
