"""CIFAR-10 and CIFAR-100 from the original "python version" archives.

The archives are the ones Keras downloads (``cifar-10-python.tar.gz``,
``cifar-100-python.tar.gz``, pinned by Keras' sha256), read without extracting:
pickled dicts with byte-string keys, pixels as uint8 ``[N, 3072]`` holding each
image's red, green and blue 32x32 planes in turn (row-major CHW). They come
out as uint8 ``[N, 32, 32, 3]`` (HWC) and uint8 labels.

The pickles are unpickled with an allow-list that admits only what the
canonical files hold (numpy arrays, lists, byte strings), so an archive from
``--data-dir`` cannot run code.
"""

import io
import pickle
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from training.datasets.errors import SourceError
from training.datasets.sources import http_download, verify_digest

CifarName = Literal["cifar10", "cifar100"]
LabelMode = Literal["fine", "coarse"]

CIFAR_BASE_URL = "https://www.cs.toronto.edu/~kriz"
SIDE = 32
PIXELS = 3 * SIDE * SIDE

ARCHIVES: dict[CifarName, str] = {
    "cifar10": "cifar-10-python.tar.gz",
    "cifar100": "cifar-100-python.tar.gz",
}
# The digests keras/src/datasets/cifar10.py and cifar100.py check.
ARCHIVE_SHA256: dict[CifarName, str] = {
    "cifar10": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    "cifar100": "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
}

CIFAR10_LABELS = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
CIFAR100_FINE_LABELS = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip
CIFAR100_COARSE_LABELS = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)  # fmt: skip


def cifar_labels(name: CifarName, label_mode: LabelMode = "fine") -> tuple[str, ...]:
    """Class names in label order; ``label_mode`` matters for CIFAR-100 only."""
    if name == "cifar10":
        return CIFAR10_LABELS
    return CIFAR100_FINE_LABELS if label_mode == "fine" else CIFAR100_COARSE_LABELS


def archive_url(name: CifarName) -> str:
    return f"{CIFAR_BASE_URL}/{ARCHIVES[name]}"


def find_local_archive(name: CifarName, local: Path) -> Path:
    """``local`` itself when it is a file, else the canonical archive name inside it."""
    if local.is_file():
        return local
    path = local / ARCHIVES[name]
    if not path.is_file():
        raise SourceError(f"{local} has no {ARCHIVES[name]}")
    return path


# Members, pickle keys and label-name keys of each archive.
_TRAIN_MEMBERS: dict[CifarName, tuple[str, ...]] = {
    "cifar10": tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
    "cifar100": ("cifar-100-python/train",),
}
_TEST_MEMBER: dict[CifarName, str] = {
    "cifar10": "cifar-10-batches-py/test_batch",
    "cifar100": "cifar-100-python/test",
}
_META_MEMBER: dict[CifarName, str] = {
    "cifar10": "cifar-10-batches-py/batches.meta",
    "cifar100": "cifar-100-python/meta",
}
# Array suffix -> (pickle label key, meta key for its names, the names expected).
_LABEL_KEYS: dict[CifarName, dict[str, tuple[bytes, bytes, tuple[str, ...]]]] = {
    "cifar10": {"": (b"labels", b"label_names", CIFAR10_LABELS)},
    "cifar100": {
        "": (b"fine_labels", b"fine_label_names", CIFAR100_FINE_LABELS),
        "_coarse": (b"coarse_labels", b"coarse_label_names", CIFAR100_COARSE_LABELS),
    },
}


def array_keys(name: CifarName) -> set[str]:
    """The arrays a CIFAR entry holds: images and labels per split (fine and coarse)."""
    keys = {"x_train", "x_test"}
    for suffix in _LABEL_KEYS[name]:
        keys |= {f"y_train{suffix}", f"y_test{suffix}"}
    return keys


def read_cifar_archive(path: Path, name: CifarName) -> dict[str, NDArray[np.uint8]]:
    """Arrays ``x_train, y_train, x_test, y_test`` (CIFAR-100 adds ``y_*_coarse``).

    Raises ``ValueError`` when a member, key or shape is not the canonical one.
    """
    wanted = {*_TRAIN_MEMBERS[name], _TEST_MEMBER[name], _META_MEMBER[name]}
    members: dict[str, dict[bytes, Any]] = {}
    with tarfile.open(path, mode="r:gz") as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.name in wanted else None
            if handle is not None:
                members[member.name] = _unpickle(handle.read(), member.name)
    missing = sorted(wanted - set(members))
    if missing:
        raise ValueError(f"{path.name} lacks {missing}")
    _check_label_names(members[_META_MEMBER[name]], name)
    arrays: dict[str, NDArray[np.uint8]] = {}
    for split, batches in (
        ("train", [members[m] for m in _TRAIN_MEMBERS[name]]),
        ("test", [members[_TEST_MEMBER[name]]]),
    ):
        arrays[f"x_{split}"] = np.concatenate([_images(batch) for batch in batches])
        for suffix, (key, _, names) in _LABEL_KEYS[name].items():
            labels = np.concatenate([_labels(batch, key, len(names)) for batch in batches])
            if len(labels) != len(arrays[f"x_{split}"]):
                raise ValueError(f"{split}: {len(labels)} labels for {len(arrays['x_' + split])}")
            arrays[f"y_{split}{suffix}"] = labels
    return arrays


def _images(batch: Mapping[bytes, Any]) -> NDArray[np.uint8]:
    data = np.asarray(batch[b"data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        raise ValueError(f"data must be uint8 [N, {PIXELS}], got {data.dtype} {list(data.shape)}")
    # Each row is three 32x32 planes (R, G, B): CHW, which the models want as HWC.
    return data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1).copy()


def _labels(batch: Mapping[bytes, Any], key: bytes, num_classes: int) -> NDArray[np.uint8]:
    labels = np.asarray(batch[key], dtype=np.int64).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{key.decode()} outside 0..{num_classes - 1}")
    return labels.astype(np.uint8)


def _check_label_names(meta: Mapping[bytes, Any], name: CifarName) -> None:
    for _, meta_key, expected in _LABEL_KEYS[name].values():
        found = tuple(label.decode() for label in meta[meta_key])
        if found != expected:
            raise ValueError(f"{meta_key.decode()} in the archive are not {name}'s classes")


_RECONSTRUCT = np.empty(0).__reduce__()[0]
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by numpy 1.x
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by numpy 2.x
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing {module}.{name}") from None


def _unpickle(raw: bytes, member: str) -> dict[bytes, Any]:
    """One batch, unpickled as Python 2 wrote it (str keys arrive as bytes)."""
    try:
        loaded = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError) as exc:
        raise ValueError(f"{member}: not a CIFAR batch ({exc})") from exc
    if not isinstance(loaded, dict):
        raise ValueError(f"{member}: expected a dict, got {type(loaded).__name__}")
    return loaded


def fetch_cifar(name: CifarName) -> dict[str, NDArray[np.uint8]]:
    """The canonical archive Keras downloads, checked against Keras' sha256."""
    with tempfile.TemporaryDirectory(prefix="kerasserve-") as tmp:
        path = http_download(archive_url(name), Path(tmp) / ARCHIVES[name])
        verify_digest(path, "sha256", ARCHIVE_SHA256[name])
        return read_cifar_archive(path, name)


def load_local_cifar(name: CifarName, local: Path) -> tuple[dict[str, NDArray[np.uint8]], Path]:
    """The canonical archive from ``local`` (the file, or a folder holding it)."""
    if not local.exists():
        raise SourceError(f"{local} does not exist")
    path = find_local_archive(name, local)
    return read_cifar_archive(path, name), path
