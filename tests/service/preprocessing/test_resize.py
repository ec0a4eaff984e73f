"""Crop and pad geometry against the Keras and TensorFlow functions they copy, on odd shapes."""

import numpy as np
import pytest
from PIL import Image

from service.preprocessing.resize import crop_box_pil, pad_placement, place, resize

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

SHAPES = [(427, 640), (640, 427), (101, 103), (3, 500), (500, 7), (96, 96)]
SIZES = [(96, 96), (64, 80), (80, 64), (1, 9)]


def random_rgb(height: int, width: int) -> Image.Image:
    pixels = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("shape", SHAPES)
def test_crop_without_antialias_is_smart_resize_on_a_dataset_tensor(shape: tuple[int, int]):
    from keras.src.backend import tensorflow as tf_backend
    from keras.src.utils.image_utils import smart_resize

    image = random_rgb(*shape)
    for size in SIZES:
        # Shapes unknown while tracing, as in image_dataset_from_directory.
        @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
        def reference(pixels, size=size):
            return smart_resize(pixels, size, interpolation="nearest", backend_module=tf_backend)

        ours, _ = resize(image, "crop", size, "nearest", antialias=False)
        assert np.array_equal(ours, reference(np.asarray(image)).numpy()), size


@pytest.mark.parametrize("shape", SHAPES)
def test_crop_with_antialias_uses_load_imgs_box(shape: tuple[int, int]):
    height, width = shape
    for size in SIZES:
        left, top, right, bottom = crop_box_pil(width, height, size)
        crop_height = min(height, width * size[0] // size[1])
        crop_width = min(width, height * size[1] // size[0])
        assert (right - left, bottom - top) == (crop_width, crop_height)
        assert (top, left) == ((height - crop_height) // 2, (width - crop_width) // 2)


@pytest.mark.parametrize("shape", SHAPES)
def test_pad_geometry_is_resize_with_pad(shape: tuple[int, int]):
    for size in SIZES:
        placement = pad_placement(*shape, size)
        try:
            padded = tf.image.resize_with_pad(tf.ones((*shape, 1)), *size).numpy()[..., 0]
        except tf.errors.InvalidArgumentError:  # TF refuses to fit into 0 pixels; we keep 1
            assert 1 in placement.size
            continue
        rows, columns = np.nonzero(padded > 0.5)
        assert placement.offset == (rows.min(), columns.min())
        assert placement.size == (rows.max() - rows.min() + 1, columns.max() - columns.min() + 1)


def test_pad_places_the_picture_on_zeros():
    placement = pad_placement(20, 30, (6, 6))
    assert placement.size == (4, 6) and placement.offset == (1, 0)
    canvas = place(np.full((4, 6, 1), 7, np.uint8), placement, (6, 6))
    assert canvas.dtype == np.uint8
    assert np.array_equal(canvas[..., 0].max(axis=1), [0, 7, 7, 7, 7, 0])
    full = np.ones((6, 6, 1), np.float32)
    assert place(full, pad_placement(6, 6, (6, 6)), (6, 6)) is full
