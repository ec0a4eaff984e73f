"""The numpy kernels against `tf.image.resize(..., antialias=False)` itself."""

import numpy as np
import pytest

from service.preprocessing import resize_like_tf

tf = pytest.importorskip("tensorflow")

TF_METHODS = {
    "bilinear": "bilinear",
    "nearest": "nearest",
    "bicubic": "bicubic",
    "area": "area",
    "lanczos": "lanczos3",
}


@pytest.mark.parametrize("method", sorted(TF_METHODS))
@pytest.mark.parametrize("source", [(427, 640), (50, 37), (7, 5)])
def test_every_method_matches_tensorflow(method: resize_like_tf.Method, source: tuple[int, int]):
    pixels = (np.random.default_rng(0).random((*source, 3)) * 255).astype(np.float32)
    height, width = source
    for size in [(96, 96), (64, 80), (13, 200), source, (3 * height, 2 * width)]:
        ours = resize_like_tf.resize(pixels, size, method)
        expected = tf.image.resize(pixels, size, method=TF_METHODS[method], antialias=False)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, expected.numpy(), atol=0.01, err_msg=f"{size}")


def test_nearest_picks_source_pixels_and_bilinear_reads_two():
    """antialias=False: a 4x downscale reads 1 (nearest) or 2 (bilinear) of 4 source pixels."""
    ramp = np.arange(16, dtype=np.float32).reshape(1, 16, 1)
    assert resize_like_tf.resize(ramp, (1, 4), "nearest").ravel().tolist() == [2, 6, 10, 14]
    assert resize_like_tf.resize(ramp, (1, 4), "bilinear").ravel().tolist() == [1.5, 5.5, 9.5, 13.5]
