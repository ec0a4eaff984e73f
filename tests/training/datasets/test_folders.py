"""The image-folder loader: Keras' conventions (sorted classes, seeded split, resize
policies, colour modes) and errors that name the folder or file at fault."""

import logging

import keras
import numpy as np
import pytest
from PIL import Image

from training.datasets.folders import FolderError, FolderOptions, load_image, load_image_folder


def write_folder(root, counts, size=(12, 20), mode="RGB", ext="png"):
    """``root/<class>/<i>.<ext>``: class k is a flat image of value 40 * (k + 1)."""
    for index, (name, count) in enumerate(counts.items()):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(count):
            value = 40 * (index + 1)
            pixels = np.full((*size, len(mode)), value, np.uint8)
            Image.fromarray(pixels.squeeze(-1) if mode == "L" else pixels).save(
                folder / f"{i}.{ext}"
            )
    return root


def test_classes_are_sorted_and_the_split_is_seeded_and_stratified(tmp_path):
    root = write_folder(tmp_path / "pets", {"dog": 10, "cat": 10, "emu": 5})
    (root / "notes.txt").write_text("ignored")
    (root / "cat" / "readme.md").write_text("ignored too")
    options = FolderOptions(image_size=(8, 8), validation_split=0.2)
    data = load_image_folder(root, options, seed=7)
    assert data.labels == ("cat", "dog", "emu")
    assert data.x_train.shape[1:] == (8, 8, 3)
    assert np.bincount(data.y_val).tolist() == [2, 2, 1]
    assert len(data.y_train) == 20
    # class "dog" (second sub-folder written, value 80) is label 1 after sorting
    assert (data.x_train[data.y_train == 1] == 40).all()
    again = load_image_folder(root, options, seed=7)
    np.testing.assert_array_equal(again.y_val, data.y_val)
    assert data.split["per_class"] == {"cat": 10, "dog": 10, "emu": 5}


@pytest.mark.parametrize(
    ("flags", "resize"),
    [
        ({}, "stretch"),
        ({"crop_to_aspect_ratio": True}, "crop"),
        ({"pad_to_aspect_ratio": True}, "pad"),
    ],
)
def test_resize_policies_match_keras_and_the_card_says_which(tmp_path, flags, resize):
    root = tmp_path / "shapes"
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(2):
            pixels = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    data = load_image_folder(root, FolderOptions(image_size=(16, 16), **flags), seed=1)
    reference = keras.utils.image_dataset_from_directory(
        root, image_size=(16, 16), batch_size=None, shuffle=False, **flags
    )
    expected = np.stack([image.numpy() for image, _ in reference])
    options = FolderOptions(image_size=(16, 16), **flags)
    ours = np.stack([load_image(path, options) for path in sorted(root.glob("*/*.png"))])
    np.testing.assert_allclose(ours, expected, atol=0.51)  # ours are rounded to uint8
    assert data.image is not None
    assert data.image.resize == resize
    assert data.image.antialias is False
    assert (data.image.scale, data.image.polarity, data.image.size) == ("unit", "keep", (16, 16))


def test_grayscale_and_rgba_colour_modes(tmp_path):
    root = write_folder(tmp_path / "f", {"x": 2, "y": 2}, mode="RGB")
    gray = load_image_folder(root, FolderOptions(image_size=(4, 4), color_mode="grayscale"))
    rgba = load_image_folder(root, FolderOptions(image_size=(4, 4), color_mode="rgba"))
    assert gray.image_shape == (4, 4, 1)
    assert rgba.image_shape == (4, 4, 4)
    assert (gray.image and gray.image.color, rgba.image and rgba.image.color) == ("gray", "rgba")


def test_fewer_than_two_classes_is_refused(tmp_path):
    root = write_folder(tmp_path / "one", {"only": 3})
    with pytest.raises(FolderError, match=r"at least two class sub-folders.*found 1: only"):
        load_image_folder(root)


def test_an_empty_class_is_named(tmp_path):
    root = write_folder(tmp_path / "f", {"full": 3, "other": 3})
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(FolderError, match=r"empty.*hold no images"):
        load_image_folder(root)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FolderError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere")


def test_unreadable_file_is_skipped_with_a_warning_or_fatal_when_strict(tmp_path, caplog):
    root = write_folder(tmp_path / "f", {"a": 3, "b": 3})
    (root / "b" / "broken.png").write_bytes(b"not a png at all")
    options = FolderOptions(image_size=(4, 4))
    with caplog.at_level(logging.WARNING):
        data = load_image_folder(root, options)
    assert len(data.y_train) + len(data.y_val) == 6
    assert data.skipped == ("b/broken.png",)
    assert "broken.png" in caplog.text
    with pytest.raises(FolderError, match=r"cannot read image .*broken.png"):
        load_image_folder(root, FolderOptions(image_size=(4, 4), strict=True))


def test_crop_and_pad_together_are_refused():
    with pytest.raises(ValueError, match="not both"):
        FolderOptions(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
