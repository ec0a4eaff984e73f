"""`tf.image.resize(..., antialias=False)` in numpy, for models trained on TF pipelines.

`image_dataset_from_directory`, `keras.layers.Resizing` and `smart_resize` all resize
with TensorFlow's kernels without antialiasing: a downscale samples a few source
pixels per output pixel instead of averaging the area it covers, so the result
differs visibly from Pillow's (antialiased) resampling. A model trained on those
pixels should be served the same ones, without importing TensorFlow here.

Every method is separable, so each axis gets a small table of source indices and
weights (`Taps`), computed in float32 the way the kernels compute them:

| interpolation | TensorFlow kernel |
|---|---|
| bilinear | `ResizeBilinear`, half-pixel centres, edge pixels repeated |
| nearest | `ResizeNearestNeighbor`, half-pixel centres, `floor` |
| bicubic | `ResizeBicubic`, half-pixel centres, Keys a=-0.5 (1024-entry table), |
|         | taps outside the image dropped and the rest renormalised |
| area | `ResizeArea`: each output pixel averages the source area it covers |
| lanczos | `ScaleAndTranslate` with a Lanczos-3 kernel, `antialias=False` |
"""

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

Method = Literal["bilinear", "nearest", "bicubic", "area", "lanczos"]

_KEYS_A = -0.5
_CUBIC_TABLE_SIZE = 1024
_LANCZOS_RADIUS = 3.0


@dataclass(frozen=True)
class Taps:
    """Output pixel i along one axis = sum_k weights[i, k] * source[indices[i, k]]."""

    indices: NDArray[np.intp]
    weights: NDArray[np.float32]


def resize(pixels: NDArray[Any], size: tuple[int, int], method: Method) -> NDArray[np.float32]:
    """Resize [H, W, C] pixels to `size` (height, width) as TensorFlow would, in float32.

    Bytes may come in as they are: each tap converts only the rows or columns it reads,
    so a large photo is never copied whole as floats.
    """
    height, width = size
    rows = _taps(method, pixels.shape[0], height)
    columns = _taps(method, pixels.shape[1], width)
    return _apply(_apply(pixels, rows, axis=0), columns, axis=1)


def _apply(pixels: NDArray[Any], taps: Taps, axis: int) -> NDArray[np.float32]:
    """One axis at a time, one tap at a time: memory stays at one output-sized array."""
    shape = [1] * pixels.ndim
    shape[axis] = -1
    result: NDArray[np.float32] | None = None
    for k in range(taps.indices.shape[1]):
        term = np.take(pixels, taps.indices[:, k], axis=axis) * taps.weights[:, k].reshape(shape)
        result = term if result is None else result + term
    assert result is not None  # every method has at least one tap
    return result


def _taps(method: Method, in_size: int, out_size: int) -> Taps:
    if method == "nearest":
        return _nearest(in_size, out_size)
    if method == "bilinear":
        return _bilinear(in_size, out_size)
    if method == "bicubic":
        return _bicubic(in_size, out_size)
    if method == "area":
        return _area(in_size, out_size)
    return _lanczos(in_size, out_size)


def _half_pixel(in_size: int, out_size: int) -> NDArray[np.float32]:
    """Source coordinate of each output pixel's centre: (i + 0.5) * in/out - 0.5."""
    scale = np.float32(in_size) / np.float32(out_size)
    centres = np.arange(out_size, dtype=np.float32) + np.float32(0.5)
    return np.asarray(centres * scale - np.float32(0.5), dtype=np.float32)


def _nearest(in_size: int, out_size: int) -> Taps:
    scale = np.float32(in_size) / np.float32(out_size)
    centres = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale
    indices = np.clip(np.floor(centres).astype(np.intp), 0, in_size - 1)
    return Taps(indices[:, None], np.ones((out_size, 1), dtype=np.float32))


def _bilinear(in_size: int, out_size: int) -> Taps:
    position = _half_pixel(in_size, out_size)
    floor = np.floor(position)
    lower = np.maximum(floor, 0).astype(np.intp)
    upper = np.minimum(np.ceil(position), in_size - 1).astype(np.intp)
    lerp = (position - floor).astype(np.float32)
    weights = np.stack((np.float32(1) - lerp, lerp), axis=1)
    return Taps(np.stack((lower, upper), axis=1), weights.astype(np.float32))


def _keys(distance: NDArray[np.float32]) -> NDArray[np.float32]:
    """The Keys cubic kernel with a = -0.5 (what half-pixel `ResizeBicubic` uses)."""
    x = np.abs(distance)
    a = np.float32(_KEYS_A)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0)).astype(np.float32)


def _bicubic(in_size: int, out_size: int) -> Taps:
    position = _half_pixel(in_size, out_size)
    start = np.floor(position).astype(np.intp)
    # The kernel reads its weights from a table indexed by round(delta * 1024).
    delta = np.rint((position - start) * _CUBIC_TABLE_SIZE) / np.float32(_CUBIC_TABLE_SIZE)
    offsets = np.arange(-1, 3)
    indices = start[:, None] + offsets
    weights = _keys((offsets - delta[:, None]).astype(np.float32))
    return _normalised(indices, weights, in_size)


def _lanczos(in_size: int, out_size: int) -> Taps:
    inverse_scale = np.float32(1) / (np.float32(out_size) / np.float32(in_size))
    sample = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * inverse_scale
    radius = np.float32(_LANCZOS_RADIUS)
    start = np.ceil(sample - radius - np.float32(0.5)).astype(np.intp)
    width = 2 * math.ceil(_LANCZOS_RADIUS) + 1
    indices = start[:, None] + np.arange(width)
    end = np.floor(sample + radius - np.float32(0.5)).astype(np.intp)
    distance = (indices.astype(np.float32) + np.float32(0.5) - sample[:, None]).astype(np.float32)
    weights = np.where(indices <= end[:, None], _lanczos_kernel(distance), np.float32(0))
    return _normalised(indices, weights.astype(np.float32), in_size)


def _lanczos_kernel(distance: NDArray[np.float32]) -> NDArray[np.float32]:
    x = np.abs(distance)
    radius = np.float32(_LANCZOS_RADIUS)
    pi = np.float32(math.pi)
    safe = np.where(x <= 1e-3, np.float32(1), x)
    value = radius * np.sin(pi * safe) * np.sin(pi * safe / radius) / (pi * pi * safe * safe)
    return np.where(x <= 1e-3, np.float32(1), np.where(x > radius, 0, value)).astype(np.float32)


def _area(in_size: int, out_size: int) -> Taps:
    scale = np.float32(in_size) / np.float32(out_size)
    steps = np.arange(out_size + 1, dtype=np.float32)
    begin, end = steps[:-1] * scale, steps[1:] * scale
    first = np.floor(begin).astype(np.intp)
    width = int((np.ceil(end).astype(np.intp) - first).max())
    indices = first[:, None] + np.arange(width)
    cells = indices.astype(np.float32)
    overlap = np.minimum(cells + 1, end[:, None]) - np.maximum(cells, begin[:, None])
    weights = np.maximum(overlap, 0) / scale
    return Taps(np.clip(indices, 0, in_size - 1), weights.astype(np.float32))


def _normalised(indices: NDArray[np.intp], weights: NDArray[np.float32], in_size: int) -> Taps:
    """Drop taps that fall outside the source and rescale the rest to sum to 1."""
    inside = (indices >= 0) & (indices < in_size)
    kept = np.where(inside, weights, np.float32(0)).astype(np.float32)
    total = kept.sum(axis=1, keepdims=True)
    kept = np.where(np.abs(total) > 0, kept / np.where(total == 0, 1, total), 0)
    return Taps(np.clip(indices, 0, in_size - 1), kept.astype(np.float32))
