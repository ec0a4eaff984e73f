"""Your own images: ``DIR/<class>/*.{png,jpg,jpeg,bmp,gif,webp}`` as a split uint8 dataset.

Follows ``keras.utils.image_dataset_from_directory``: class names are the
sub-folder names in sorted order, other files are ignored, every image is decoded
with ``tf.io.decode_image`` to the requested ``color_mode`` and resized with
``tf.image.resize`` (no antialiasing) to ``image_size``, optionally centre-cropped
(``crop_to_aspect_ratio``) or letterboxed (``pad_to_aspect_ratio``) to keep the
aspect ratio. Two differences, both deliberate: the validation split is stratified
(every class in proportion, seeded), and an unreadable file is skipped with a
warning (or is fatal with ``strict``) instead of stopping the whole load.

There is no separate test split: the held-out validation files are the test set,
and the card says so. The returned dataset carries the card's ``image`` block, so
the service prepares uploads exactly as this loader prepared the training files.
"""

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from service.card import Color, ImageSpec, Interpolation, Resize
from training.datasets.errors import DatasetError
from training.datasets.images import ImageDataset
from training.datasets.splits import stratified_split

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
ColorMode = Literal["grayscale", "rgb", "rgba"]
COLOR_MODES: dict[ColorMode, Color] = {"grayscale": "gray", "rgb": "rgb", "rgba": "rgba"}
CHANNELS: dict[ColorMode, int] = {"grayscale": 1, "rgb": 3, "rgba": 4}
FolderInterpolation = Literal["bilinear", "nearest", "bicubic", "area"]


class FolderError(DatasetError, ValueError):
    """The image folder cannot be used; the message names the folder or file at fault."""


@dataclass(frozen=True)
class FolderOptions:
    """``image_dataset_from_directory``'s arguments, with its defaults."""

    image_size: tuple[int, int] = (256, 256)
    color_mode: ColorMode = "rgb"
    validation_split: float = 0.2
    interpolation: FolderInterpolation = "bilinear"
    crop_to_aspect_ratio: bool = False
    pad_to_aspect_ratio: bool = False
    strict: bool = False

    def __post_init__(self) -> None:
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("choose crop_to_aspect_ratio or pad_to_aspect_ratio, not both")
        if not 0.0 < self.validation_split < 1.0:
            raise ValueError(f"validation_split must be in (0, 1), got {self.validation_split}")
        if min(self.image_size) < 1:
            raise ValueError(f"image_size must be positive, got {self.image_size}")

    @property
    def resize(self) -> Resize:
        if self.crop_to_aspect_ratio:
            return "crop"
        return "pad" if self.pad_to_aspect_ratio else "stretch"

    def image_spec(self) -> ImageSpec:
        """What training did, for the card: the service reproduces ``tf.image.resize``."""
        interpolation: Interpolation = self.interpolation
        return ImageSpec(
            size=self.image_size,
            color=COLOR_MODES[self.color_mode],
            resize=self.resize,
            interpolation=interpolation,
            antialias=False,
            scale="unit",
            polarity="keep",
        )


@dataclass(frozen=True, eq=False)
class FolderDataset(ImageDataset):
    """An :class:`ImageDataset` read from class folders; ``image`` goes into the card."""

    image: ImageSpec | None = None
    preprocessing: str = ""
    skipped: tuple[str, ...] = ()


def find_class_files(directory: Path) -> tuple[tuple[str, ...], list[list[Path]]]:
    """Sorted class names and each class's image files (sorted), or a ``FolderError``."""
    if not directory.is_dir():
        raise FolderError(f"image folder {directory} does not exist or is not a directory")
    classes = tuple(sorted(p.name for p in directory.iterdir() if p.is_dir()))
    if len(classes) < 2:
        found = ", ".join(classes) or "none"
        raise FolderError(
            f"{directory} needs at least two class sub-folders (DIR/<class>/*.png ...); "
            f"found {len(classes)}: {found}"
        )
    files = [
        sorted(
            p
            for p in (directory / name).rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        for name in classes
    ]
    empty = [name for name, paths in zip(classes, files, strict=True) if not paths]
    if empty:
        raise FolderError(
            f"class folder(s) {', '.join(empty)} in {directory} hold no images "
            f"({', '.join(IMAGE_EXTENSIONS)})"
        )
    return classes, files


def load_image(path: Path, options: FolderOptions) -> NDArray[np.uint8]:
    """One file as uint8 ``[H, W, C]``, decoded and resized as Keras' folder loader does."""
    raw = tf.io.read_file(str(path))
    image = tf.io.decode_image(raw, channels=CHANNELS[options.color_mode], expand_animations=False)
    # The same three calls as Keras' own folder loader (keras.src.utils.image_dataset_utils).
    height, width = options.image_size
    method = options.interpolation
    if options.crop_to_aspect_ratio:
        from keras.src.backend import tensorflow as tf_backend

        resized = keras.preprocessing.image.smart_resize(
            image, options.image_size, interpolation=method, backend_module=tf_backend
        )
    elif options.pad_to_aspect_ratio:
        resized = tf.image.resize_with_pad(image, height, width, method=method)
    else:
        resized = tf.image.resize(image, options.image_size, method=method)
    pixels: NDArray[np.float32] = np.asarray(resized, dtype=np.float32)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def load_image_folder(
    directory: Path, options: FolderOptions | None = None, *, seed: int = 1234
) -> FolderDataset:
    """Read ``directory``'s class folders; split off a stratified, seeded validation set."""
    options = options or FolderOptions()
    classes, files = find_class_files(directory)
    images: list[NDArray[np.uint8]] = []
    labels: list[int] = []
    skipped: list[str] = []
    digest = hashlib.sha256()
    for label, paths in enumerate(files):
        for path in paths:
            try:
                image = load_image(path, options)
            except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as exc:
                reason = str(exc).splitlines()[0][:200]
                if options.strict:
                    raise FolderError(f"cannot read image {path}: {reason}") from exc
                logger.warning("skipping unreadable image %s: %s", path, reason)
                skipped.append(str(path.relative_to(directory)))
                continue
            digest.update(f"{label}:{path.relative_to(directory)}\n".encode())
            digest.update(path.read_bytes())
            images.append(image)
            labels.append(label)
    y = np.asarray(labels, dtype=np.uint8)
    counts = np.bincount(y, minlength=len(classes))
    if (counts < 2).any():
        short = [name for name, count in zip(classes, counts, strict=True) if count < 2]
        raise FolderError(
            f"class folder(s) {', '.join(short)} in {directory} have fewer than two readable "
            "images: one for training and one for validation at least"
        )
    x = np.stack(images)
    val_idx, train_idx = stratified_split(
        y, [max(len(classes), round(options.validation_split * len(y)))], seed=seed
    )
    sizes = {"train": len(train_idx), "validation": len(val_idx), "test": len(val_idx)}
    return FolderDataset(
        name=f"folder:{directory.name}",  # type: ignore[arg-type]
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_val=x[val_idx],
        y_val=y[val_idx],
        x_test=x[val_idx],
        y_test=y[val_idx],
        labels=classes,
        source=f"folder:{directory.resolve()}",
        checksum=digest.hexdigest(),
        split={
            "kind": "stratified-validation (test = validation: a folder has no test split)",
            "seed": seed,
            "sizes": sizes,
            "validation_split": options.validation_split,
            "per_class": {name: int(n) for name, n in zip(classes, counts, strict=True)},
            "skipped_unreadable": skipped,
        },
        image=options.image_spec(),
        preprocessing=folder_preprocessing(options),
        skipped=tuple(skipped),
    )


def folder_preprocessing(options: FolderOptions) -> str:
    """The card's human-readable preprocessing note."""
    height, width = options.image_size
    channels = CHANNELS[options.color_mode]
    how = {
        "stretch": "stretched",
        "crop": "centre-cropped to the aspect ratio, then resized",
        "pad": "letterboxed (padded) to the aspect ratio, then resized",
    }[options.resize]
    return (
        f"float32 pixels [N, {height}, {width}, {channels}] in [0, 1] "
        f"({COLOR_MODES[options.color_mode]}): the image {how} to {height}x{width} with "
        f"tf.image.resize ({options.interpolation}, no antialiasing), as "
        "keras.utils.image_dataset_from_directory loads it"
    )
