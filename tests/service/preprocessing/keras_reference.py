"""What Keras's own loaders give for a file: the references the agreement tests hold us to.

Slow to import (TensorFlow); only the agreement tests use it.
"""

import functools
import io
from pathlib import Path

import numpy as np
import pytest

from service.card import Color, CustomScale, Resize, ScalePreset

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
imagenet_utils = pytest.importorskip("keras.applications.imagenet_utils")

KERAS_COLOR_MODES: dict[Color, str] = {"gray": "grayscale", "rgb": "rgb", "rgba": "rgba"}


def load_img(path: Path, policy: Resize, size: tuple[int, int], color: Color) -> np.ndarray:
    """`load_img` + `img_to_array`: the antialias=True (Pillow) reference."""
    image = keras.utils.load_img(
        path,
        color_mode=KERAS_COLOR_MODES[color],
        target_size=size,
        interpolation="bilinear",
        keep_aspect_ratio=policy == "crop",
    )
    return np.asarray(keras.utils.img_to_array(image), dtype=np.float32)


@functools.cache
def dataset(
    folder: Path, policy: Resize, size: tuple[int, int], color: Color
) -> dict[str, np.ndarray]:
    """`image_dataset_from_directory` over `folder`: the antialias=False reference, by name."""
    images = keras.utils.image_dataset_from_directory(
        folder,
        labels=None,
        color_mode=KERAS_COLOR_MODES[color],
        image_size=size,
        interpolation="bilinear",
        crop_to_aspect_ratio=policy == "crop",
        pad_to_aspect_ratio=policy == "pad",
        batch_size=1,
        shuffle=False,
    )
    batches = [np.asarray(batch[0], dtype=np.float32) for batch in images]
    return {
        Path(path).name: pixels for path, pixels in zip(images.file_paths, batches, strict=True)
    }


def reference_scale(levels: np.ndarray, how: ScalePreset | CustomScale) -> np.ndarray:
    """`preprocess_input` for RGB; for gray the documented mean-of-means stand-ins."""
    x = levels.astype(np.float32).copy()
    if isinstance(how, CustomScale):
        mean = np.asarray(how.mean or (0.0,), np.float32)
        std = np.asarray(how.std or (1.0,), np.float32)
        return (x * np.float32(how.factor) + np.float32(how.offset) - mean) / std
    if how == "raw":
        return x
    if how == "unit":
        return x / np.float32(255)
    if how == "tf" or x.shape[-1] == 3:
        return np.asarray(imagenet_utils.preprocess_input(x, mode=how), dtype=np.float32)
    if how == "torch":
        return (x / np.float32(255) - np.float32(0.449)) / np.float32(0.226)
    return x - np.float32((103.939 + 116.779 + 123.68) / 3)


def value_range(how: ScalePreset | CustomScale, reference: np.ndarray) -> float:
    """The span MAE is measured against: 2/255 of it is the tolerance."""
    spans = {"raw": 255.0, "caffe": 255.0, "unit": 1.0, "tf": 2.0}
    if isinstance(how, str) and how in spans:
        return spans[how]
    return float(reference.max() - reference.min())


def encode_photo(photo: np.ndarray, image_format: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, image_format)
    return buffer.getvalue()
