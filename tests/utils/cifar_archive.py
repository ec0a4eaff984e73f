"""Write tiny CIFAR archives in the canonical "python version" format.

The real files were written by Python 2's cPickle (protocol 2): every key and
string is a Python 2 ``str`` (BINSTRING), pixels are a numpy uint8 ``[N, 3072]``
array pickled through ``numpy.core.multiarray._reconstruct``. The pickler below
writes the same opcodes, so the reader meets what it would meet in the real archive.
"""

import io
import pickle
import struct
import tarfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from training.datasets.cifar import (
    ARCHIVES,
    CIFAR10_LABELS,
    CIFAR100_COARSE_LABELS,
    CIFAR100_FINE_LABELS,
)

_RECONSTRUCT = np.empty(0).__reduce__()[0]
# The pure-Python pickler: its per-type dispatch table can be overridden.
_PurePickler: Any = pickle._Pickler
Arrays = tuple[np.ndarray, ...]


class Python2Pickler(_PurePickler):  # type: ignore[misc]
    """Protocol 2 as cPickle wrote it: ``str`` and ``bytes`` both become Python 2 strings."""

    dispatch: ClassVar[dict[type, Any]] = dict(_PurePickler.dispatch)

    def save_py2_string(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_string
    dispatch[bytes] = save_py2_string

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if obj is _RECONSTRUCT:  # numpy 1.x's module path, as in the real files
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle(obj: Any) -> bytes:
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def canonical_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 HWC images to the archive's rows: [N, 3072], the R, G, B planes in turn."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1).astype(np.uint8)


def _batch(images: np.ndarray, labels: dict[str, list[int]], label: str) -> bytes:
    batch: dict[str, Any] = {"batch_label": label}
    batch.update(labels)
    batch["data"] = canonical_pixels(images)
    batch["filenames"] = [f"image_{i:05d}.png" for i in range(len(images))]
    return py2_pickle(batch)


def write_cifar10(directory: Path, train: Arrays, test: Arrays) -> Path:
    """``cifar-10-python.tar.gz`` with five training batches (``train`` split evenly)."""
    x_train, y_train = train
    members = {}
    for index, part in enumerate(np.array_split(np.arange(len(y_train)), 5), start=1):
        labels = {"labels": [int(v) for v in y_train[part]]}
        members[f"data_batch_{index}"] = _batch(
            x_train[part], labels, f"training batch {index} of 5"
        )
    members["test_batch"] = _batch(
        test[0], {"labels": [int(v) for v in test[1]]}, "testing batch 1 of 1"
    )
    members["batches.meta"] = py2_pickle(
        {"num_cases_per_batch": 10000, "label_names": list(CIFAR10_LABELS), "num_vis": 3072}
    )
    return _tar(directory / ARCHIVES["cifar10"], "cifar-10-batches-py", members)


def write_cifar100(directory: Path, train: Arrays, test: Arrays) -> Path:
    """``cifar-100-python.tar.gz``: ``train``/``test`` are (images, fine, coarse)."""
    members = {}
    for member, (images, fine, coarse) in (("train", train), ("test", test)):
        labels = {
            "fine_labels": [int(v) for v in fine],
            "coarse_labels": [int(v) for v in coarse],
        }
        members[member] = _batch(images, labels, member)
    members["meta"] = py2_pickle(
        {
            "fine_label_names": list(CIFAR100_FINE_LABELS),
            "coarse_label_names": list(CIFAR100_COARSE_LABELS),
        }
    )
    return _tar(directory / ARCHIVES["cifar100"], "cifar-100-python", members)


def _tar(path: Path, folder: str, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def random_cifar(rng: np.random.Generator, count: int, num_classes: int) -> Arrays:
    """Random HWC uint8 images and labels, every class present."""
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    labels = (np.arange(count) % num_classes).astype(np.uint8)
    return images, labels


def synthetic_cifar100(directory: Path, train: int = 300, test: int = 100, seed: int = 7) -> Path:
    """A random CIFAR-100 archive in ``directory``; each coarse label is fine // 5."""
    rng = np.random.default_rng(seed)
    x_train, fine_train = random_cifar(rng, train, 100)
    x_test, fine_test = random_cifar(rng, test, 100)
    return write_cifar100(
        directory, (x_train, fine_train, fine_train // 5), (x_test, fine_test, fine_test // 5)
    )
