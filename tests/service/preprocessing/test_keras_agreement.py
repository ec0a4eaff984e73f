"""Real photos through `prepare_image` and through Keras's own loaders: the tensors agree.

Each resize policy, colour, scale and a couple of sizes, on scikit-learn's two sample
photos saved as PNG and JPEG. The tolerance is a mean absolute difference of 2/255 of
the value range: JPEG decoding differs slightly between Pillow and TensorFlow, and the
rest should be float rounding.
"""

from pathlib import Path

import numpy as np
import pytest

from service.card import Color, CustomScale, ImageSpec, Resize, ScalePreset
from service.preprocessing.images import prepare_image
from tests.service.preprocessing import keras_reference as reference

TOLERANCE = 2 / 255
SIZES = [(96, 96), (64, 80)]
# antialias=True is Pillow (load_img); antialias=False is TensorFlow (the dataset loader).
CASES: list[tuple[Resize, bool]] = [
    ("stretch", True),
    ("crop", True),
    ("stretch", False),
    ("crop", False),
    ("pad", False),
]


def scales(color: Color) -> list[ScalePreset | CustomScale]:
    custom = (
        CustomScale(factor=1 / 255, offset=-0.1, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
        if color == "rgb"
        else CustomScale(factor=2.0, offset=1.0, mean=(10.0,), std=(50.0,))
    )
    return ["raw", "unit", "tf", "torch", "caffe", custom]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    datasets = pytest.importorskip("sklearn.datasets")
    sample = datasets.load_sample_images()
    folder = tmp_path_factory.mktemp("photos")
    for photo, filename in zip(sample.images, sample.filenames, strict=True):
        stem = Path(filename).stem
        for image_format, suffix in (("PNG", "png"), ("JPEG", "jpg")):
            (folder / f"{stem}.{suffix}").write_bytes(reference.encode_photo(photo, image_format))
    return folder


def keras_levels(
    folder: Path, path: Path, policy: Resize, antialias: bool, size: tuple[int, int], color: Color
) -> np.ndarray:
    """Keras's 0..255 tensor for `path`: `load_img` (Pillow) or the dataset loader (TF)."""
    if antialias:
        return reference.load_img(path, policy, size, color)
    return reference.dataset(folder, policy, size, color)[path.name]


def mean_errors(
    folder: Path, policy: Resize, antialias: bool, size: tuple[int, int], color: Color
) -> dict[str, float]:
    """MAE / value range, for every photo and scale."""
    errors = {}
    for path in sorted(folder.iterdir()):
        levels = keras_levels(folder, path, policy, antialias, size, color)
        for how in scales(color):
            spec = ImageSpec(size=size, color=color, resize=policy, antialias=antialias, scale=how)
            ours = prepare_image(path.read_bytes(), spec).pixels
            expected = reference.reference_scale(levels, how)
            assert ours.shape == expected.shape and ours.dtype == np.float32
            span = reference.value_range(how, expected)
            name = how if isinstance(how, str) else "custom"
            errors[f"{path.name} {name}"] = float(np.abs(ours - expected).mean()) / span
    return errors


@pytest.mark.parametrize("color", ["rgb", "gray"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("policy", "antialias"), CASES)
def test_prepared_photos_match_keras_loaders(
    photos: Path, policy: Resize, antialias: bool, size: tuple[int, int], color: Color
):
    errors = mean_errors(photos, policy, antialias, size, color)
    worst = max(errors, key=errors.__getitem__)
    assert errors[worst] <= TOLERANCE, f"{worst}: MAE {errors[worst] * 255:.2f}/255 of range"


def test_pillow_photos_are_bit_identical_to_load_img(photos: Path):
    """Same decoder, same filter, same crop box: no difference at all before scaling."""
    for path in sorted(photos.iterdir()):
        for policy in ("stretch", "crop"):
            spec = ImageSpec(size=(64, 80), color="rgb", resize=policy, scale="raw")
            ours = prepare_image(path.read_bytes(), spec).pixels
            assert np.array_equal(ours, reference.load_img(path, policy, (64, 80), "rgb"))
