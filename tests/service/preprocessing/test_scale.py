import numpy as np
import pytest

from service.card import CustomScale
from service.preprocessing.scale import check, scale

imagenet_utils = pytest.importorskip("keras.applications.imagenet_utils")


def levels(channels: int) -> np.ndarray:
    return (np.random.default_rng(channels).random((5, 7, channels)) * 255).astype(np.float32)


@pytest.mark.parametrize("mode", ["tf", "torch", "caffe"])
def test_rgb_presets_are_bit_identical_to_preprocess_input(mode: str):
    rgb = levels(3)
    expected = imagenet_utils.preprocess_input(rgb.copy(), mode=mode)
    ours = scale(rgb, mode)  # type: ignore[arg-type]
    assert ours.dtype == np.float32
    assert np.array_equal(ours, expected)


def test_raw_and_unit():
    gray = levels(1)
    assert scale(gray, "raw") is gray
    np.testing.assert_allclose(scale(gray, "unit"), gray / 255, rtol=1e-6)


def test_gray_uses_the_mean_of_the_imagenet_statistics():
    gray = levels(1)
    np.testing.assert_allclose(scale(gray, "torch"), (gray / 255 - 0.449) / 0.226, rtol=1e-5)
    np.testing.assert_allclose(scale(gray, "caffe"), gray - 114.799, atol=1e-3)
    np.testing.assert_allclose(scale(gray, "tf"), gray / 127.5 - 1, atol=1e-6)


def test_rgba_normalises_colour_and_leaves_alpha():
    rgba = levels(4)
    torch = scale(rgba, "torch")
    assert np.array_equal(torch[..., :3], scale(rgba[..., :3].copy(), "torch"))
    assert np.array_equal(torch[..., 3], rgba[..., 3] / np.float32(255))
    caffe = scale(rgba, "caffe")
    assert np.array_equal(caffe[..., :3], scale(rgba[..., :3].copy(), "caffe"))
    assert np.array_equal(caffe[..., 3], rgba[..., 3])


def test_custom_scale_per_channel_and_broadcast():
    rgb = levels(3)
    how = CustomScale(factor=0.5, offset=2.0, mean=(1.0, 2.0, 3.0), std=(2.0,))
    expected = (rgb * 0.5 + 2.0 - np.array([1.0, 2.0, 3.0])) / 2.0
    np.testing.assert_allclose(scale(rgb, how), expected, rtol=1e-6)
    np.testing.assert_allclose(scale(rgb, CustomScale()), rgb)


def test_custom_scale_with_the_wrong_number_of_channels_is_refused():
    how = CustomScale(mean=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"scale\.mean has 2 values; the image has 3"):
        check(how, 3)
    with pytest.raises(ValueError, match=r"scale\.mean"):
        scale(levels(3), how)
    check(how, 2)
    check("torch", 1)
