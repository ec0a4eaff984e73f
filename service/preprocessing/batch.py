"""Many uploads -> one input batch, with the work done once per batch where it can be.

`prepare_image` is the reference for one upload; every row of a batch is exactly what
it gives that upload alone (tests hold them equal bit for bit), for less work:

1. `prepare_part` takes a run of uploads. Plain 8-bit gray PNGs at the model's own size
   under the `mnist` policy (the digit classifiers' usual upload) are decoded by libspng
   and fitted together: their [0, 1] levels, each border's median and the inversions
   are array operations over the run instead of a dozen small ones per image. Any
   other upload takes the per-image steps of `prepare_image` short of scaling.
2. `assemble` puts the parts' levels in one array, in upload order, and scales them
   once (`finish_levels`, element by element).

Parts are independent, so a caller may prepare them on threads in parallel: Pillow
releases the GIL while it decodes and resizes (libspng's binding does not, but a
28x28 PNG takes it for microseconds).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.card import ImageSpec, Polarity
from service.preprocessing.decode import plain_gray_pngs
from service.preprocessing.images import (
    Levels,
    PreparedImage,
    chosen_polarity,
    finish_levels,
    image_levels,
    inverts,
    levels_top,
)

_UNIT = np.float32(1.0 / 255.0)


@dataclass(frozen=True)
class Part:
    """A run of uploads at the model's size and colour, inverted as decided, not scaled."""

    levels: NDArray[Any]  # [k, h, w, channels], as `Levels.levels` for each upload
    inverted: list[bool]
    original_sizes: list[tuple[int, int]]
    formats: list[str]


@dataclass(frozen=True)
class PreparedBatch:
    """The model's input for N uploads; `image(i)` is what `prepare_image` gives upload i."""

    pixels: NDArray[Any]  # [N, h, w, channels] of the model's dtype
    unscaled: NDArray[Any]  # the same before scaling, on a 0..`unscaled_max` scale
    unscaled_max: float
    inverted: list[bool]
    original_sizes: list[tuple[int, int]]
    formats: list[str]

    def image(self, index: int) -> PreparedImage:
        return PreparedImage(
            self.pixels[index],
            self.inverted[index],
            self.original_sizes[index],
            self.formats[index],
            unscaled=self.unscaled[index],
            unscaled_max=self.unscaled_max,
        )


def prepare_part(
    datas: Sequence[bytes], spec: ImageSpec, polarity: Polarity | None, max_pixels: int
) -> Part:
    """Each upload's levels (`image_levels`), the plain gray PNGs fitted together.

    Raises what `prepare_image` raises for the first bad upload.
    """
    chosen = chosen_polarity(spec, polarity)
    if len(datas) == 1:  # the usual request: one image, no array work worth sharing
        one = image_levels(datas[0], spec, chosen, max_pixels)
        return Part(one.levels[np.newaxis], [one.inverted], [one.original_size], [one.format])
    grays = _plain_grays(datas, spec, max_pixels)
    plain = [levels for levels in grays if levels is not None]
    if plain and len(plain) == len(datas):  # the digit classifiers' usual request
        return _fit_grays(np.stack(plain), chosen)
    fitted = iter(_rows(_fit_grays(np.stack(plain), chosen)) if plain else [])
    rows = [
        next(fitted) if gray is not None else image_levels(data, spec, chosen, max_pixels)
        for data, gray in zip(datas, grays, strict=True)
    ]
    return Part(
        np.stack([row.levels for row in rows]),
        [row.inverted for row in rows],
        [row.original_size for row in rows],
        [row.format for row in rows],
    )


def assemble(parts: Sequence[Part], spec: ImageSpec, dtype: str) -> PreparedBatch:
    """The parts' levels as one batch in their order, scaled once for the whole batch."""
    if not parts:
        raise ValueError("a batch needs at least one part")
    if len(parts) == 1:
        unscaled = parts[0].levels
    else:
        unscaled = np.concatenate([part.levels for part in parts])
    return PreparedBatch(
        finish_levels(unscaled, spec, dtype),
        unscaled,
        levels_top(spec),
        [flag for part in parts for flag in part.inverted],
        [size for part in parts for size in part.original_sizes],
        [name for part in parts for name in part.formats],
    )


def _plain_grays(
    datas: Sequence[bytes], spec: ImageSpec, max_pixels: int
) -> list[NDArray[np.uint8] | None]:
    """Each upload's [h, w] bytes when it is a plain gray PNG at a gray mnist spec's size."""
    if spec.resize != "mnist" or spec.color != "gray" or spec.size is None:
        return [None] * len(datas)
    return plain_gray_pngs(list(datas), spec.size, max_pixels)


def _fit_grays(stacked: NDArray[np.uint8], polarity: Polarity) -> Part:
    """`mnist.fit_gray_levels` and the inversion for [n, h, w] bytes, over the whole stack.

    The same float32 operations as one image at a time: levels times 1/255, the upper
    median of each image's border ring, `1 - v` where inverted.
    """
    unit = stacked * _UNIT
    ring = np.concatenate((unit[:, 0], unit[:, -1], unit[:, 1:-1, 0], unit[:, 1:-1, -1]), axis=1)
    middle = ring.shape[1] // 2
    backgrounds: list[float] = np.partition(ring, middle, axis=1)[:, middle].tolist()
    inverted = [inverts(polarity, background, 1.0) for background in backgrounds]
    if any(inverted):
        flags = np.array(inverted)
        unit[flags] = 1.0 - unit[flags]
    count, height, width = stacked.shape
    return Part(unit[..., None], inverted, [(width, height)] * count, ["PNG"] * count)


def _rows(part: Part) -> list[Levels]:
    return [
        Levels(levels, flag, size, name)
        for levels, flag, size, name in zip(
            part.levels, part.inverted, part.original_sizes, part.formats, strict=True
        )
    ]
