"""Deterministic stratified splits.

Every part gets each class in the proportion it has in the whole set (to within
one sample), so a small validation set never misses a class and accuracy on it
is comparable across seeds.
"""

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

SplitIndices = tuple[NDArray[np.int64], ...]


def stratified_split(
    labels: NDArray[np.integer], sizes: Sequence[int | float], *, seed: int
) -> SplitIndices:
    """Split ``range(len(labels))`` into ``len(sizes) + 1`` disjoint index arrays.

    Each entry of ``sizes`` is a count (int) or a fraction of the whole (float in
    0..1); the last array returned holds everything left over. Indices inside each
    part are shuffled with ``seed``, so a class-sorted input comes out mixed.
    """
    labels = np.asarray(labels).reshape(-1)
    total = labels.shape[0]
    if total == 0:
        raise ValueError("cannot split an empty label array")
    counts = [_to_count(size, total) for size in sizes]
    if sum(counts) > total:
        raise ValueError(f"split sizes {counts} add up to more than {total} samples")
    rng = np.random.default_rng(seed)
    classes, class_sizes = np.unique(labels, return_counts=True)
    pools = [rng.permutation(np.flatnonzero(labels == value)) for value in classes]
    available = class_sizes.astype(np.int64)
    taken = np.zeros_like(available)
    parts: list[NDArray[np.int64]] = []
    for count in counts:
        quota = _allocate(count, class_sizes.astype(np.int64), available)
        chunks = [
            pool[start : start + n] for pool, start, n in zip(pools, taken, quota, strict=True)
        ]
        parts.append(_shuffled(chunks, rng))
        taken += quota
        available -= quota
    parts.append(_shuffled([pool[start:] for pool, start in zip(pools, taken, strict=True)], rng))
    return tuple(parts)


def _to_count(size: int | float, total: int) -> int:
    if isinstance(size, float):
        if not 0.0 <= size <= 1.0:
            raise ValueError(f"fraction {size} is outside 0..1")
        return round(size * total)
    if size < 0:
        raise ValueError(f"split size {size} is negative")
    return int(size)


def _allocate(
    count: int, class_sizes: NDArray[np.int64], available: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Largest-remainder apportionment of ``count`` over classes, capped by what is left."""
    total = int(class_sizes.sum())
    exact = count * class_sizes  # integer arithmetic: quota = exact / total
    quota = np.minimum(exact // total, available)
    # Hand out the rounding remainder by largest fractional part; ties go to lower class.
    order = np.lexsort((np.arange(len(exact)), -(exact % total)))
    while (missing := count - int(quota.sum())) > 0:
        open_classes = [index for index in order if quota[index] < available[index]]
        for index in open_classes[:missing]:
            quota[index] += 1
    return quota


def _shuffled(chunks: list[NDArray[np.int64]], rng: np.random.Generator) -> NDArray[np.int64]:
    merged = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
    return rng.permutation(merged).astype(np.int64)
