"""Uploaded image bytes -> the input tensor an image model declares in its `ImageSpec`.

One call, `prepare_image(data, spec)`, for every image model. Steps:

1. Decode (`decode`): format check, decompression-bomb guard from the header alone,
   first frame, EXIF orientation; JPEG draft decoding for the `mnist` policy.
2. Colour and resize: `mnist` (`mnist.fit`, the zoo's fit-and-centre) or
   `stretch` / `crop` / `pad` as the Keras loaders do it (`color`, `resize`).
3. Polarity: `auto` inverts (255 - v, colour channels only) when the border's median
   luminance is light, i.e. dark ink on paper; `invert` and `keep` force it. For `pad`
   the border is the picture's own, before the zero padding is added.
4. Scale (`scale`), for float dtypes only: integer inputs get the 0..255 pixels.

The caller resolves the spec (size, color and scale set) once, at load time; `check_spec`
says whether a resolved spec can be served.
"""

from dataclasses import dataclass, field
from typing import Any, get_args

import numpy as np
from numpy.typing import NDArray

from service.card import CHANNELS, MNIST_IMAGE, Color, CustomScale, ImageSpec, Polarity, ScalePreset
from service.preprocessing import mnist
from service.preprocessing import resize as resizing
from service.preprocessing import scale as scaling
from service.preprocessing.color import border, luminance, to_color, upper_median, with_channels
from service.preprocessing.decode import SUPPORTED_MEDIA_TYPES, Draft, decode, plain_gray_png

__all__ = [
    "SUPPORTED_MEDIA_TYPES",
    "Levels",
    "PreparedImage",
    "check_spec",
    "chosen_polarity",
    "finish_levels",
    "image_levels",
    "inverts",
    "levels_top",
    "prepare_image",
]

_POLARITIES = frozenset(get_args(Polarity))
_DRAFT_MODES: dict[Color, str] = {"gray": "L", "rgb": "RGB", "rgba": "RGB"}


@dataclass(frozen=True)
class PreparedImage:
    """One upload as the model's input, plus what a client may want to see of it."""

    pixels: NDArray[Any]  # [h, w, channels] of the requested dtype, scaled for float dtypes
    inverted: bool
    original_size: tuple[int, int]  # (width, height) as uploaded
    format: str  # PNG, JPEG, WEBP, BMP or GIF
    # The pixels before scaling (after inversion), on a 0..`unscaled_max` scale.
    unscaled: NDArray[Any] = field(kw_only=True, repr=False, compare=False)
    unscaled_max: float = field(default=255.0, kw_only=True, repr=False, compare=False)

    def preview(self) -> NDArray[np.uint8]:
        """[h, w, channels] bytes: what the model saw, at its size and colour, unscaled."""
        levels: NDArray[Any] = self.unscaled
        if self.unscaled_max != 255.0:
            levels = levels * (255.0 / self.unscaled_max)
        rounded: NDArray[Any] = np.clip(np.rint(levels), 0, 255)
        return rounded.astype(np.uint8)


def prepare_image(
    data: bytes,
    spec: ImageSpec = MNIST_IMAGE,
    *,
    dtype: str = "float32",
    max_pixels: int = 40_000_000,
    polarity: Polarity | None = None,
) -> PreparedImage:
    """Decode `data` into the tensor `spec` describes; `polarity` overrides the spec's.

    Raises ``ImageTooLargeError``, ``UnsupportedImageFormatError`` or ``ImageDecodeError``
    for bad uploads, ``ValueError`` for an unresolved spec or an unknown polarity.
    """
    levels = image_levels(data, spec, chosen_polarity(spec, polarity), max_pixels)
    pixels = finish_levels(levels.levels, spec, dtype)
    return PreparedImage(
        pixels,
        levels.inverted,
        levels.original_size,
        levels.format,
        unscaled=levels.levels,
        unscaled_max=levels_top(spec),
    )


@dataclass(frozen=True)
class Levels:
    """One upload at the model's size and colour, inverted as decided, not yet scaled."""

    levels: NDArray[Any]  # [h, w, channels] on a 0..`levels_top(spec)` scale
    inverted: bool
    original_size: tuple[int, int]
    format: str


def chosen_polarity(spec: ImageSpec, polarity: Polarity | None) -> Polarity:
    """`polarity`, or the spec's when None; ValueError for anything else."""
    chosen = spec.polarity if polarity is None else polarity
    if chosen not in _POLARITIES:
        raise ValueError(f"polarity must be auto, invert or keep, not {chosen!r}")
    return chosen


def levels_top(spec: ImageSpec) -> float:
    """The top of the levels' scale: the mnist policy works on [0, 1], the others on 0..255."""
    return 1.0 if spec.resize == "mnist" else 255.0


def image_levels(data: bytes, spec: ImageSpec, polarity: Polarity, max_pixels: int) -> Levels:
    """Every step of `prepare_image` but the scaling, which `finish_levels` applies."""
    if spec.resize == "mnist":
        return _mnist_levels(data, spec, polarity, max_pixels)
    size, color, _ = _resolved(spec)
    image, image_format, original_size = decode(data, max_pixels)
    policy = spec.resize
    picture, placement = resizing.resize(
        to_color(image, color), policy, size, spec.resampling, spec.antialias
    )
    picture = with_channels(picture, color, 255.0)
    inverted = inverts(polarity, luminance(upper_median(border(picture))), 255.0)
    if inverted:
        picture = invert(picture, 255)
    levels = resizing.place(picture, placement, size)
    return Levels(levels, inverted, original_size, image_format)


def finish_levels(levels: NDArray[Any], spec: ImageSpec, dtype: str) -> NDArray[Any]:
    """Levels of one image or of a whole batch as the model's input: element by element,
    so a batch gets exactly what each of its images would get alone."""
    _, _, how = _resolved(spec)
    if levels_top(spec) == 255.0:
        return _finish(levels, how, dtype)
    if how == "unit" and (dtype == "float32" or np.dtype(dtype) == np.float32):
        return levels  # the mnist policy's [0, 1] floats are already the input
    return _finish(levels * np.float32(255.0), how, dtype)


def _mnist_levels(data: bytes, spec: ImageSpec, polarity: Polarity, max_pixels: int) -> Levels:
    """The mnist policy works on [0, 1] floats throughout, as it always has."""
    size, color, _ = _resolved(spec)
    levels = plain_gray_png(data, size, max_pixels) if color == "gray" else None
    if levels is not None:  # the zoo's usual upload: 8-bit gray at the model's size
        unit, background = mnist.fit_gray_levels(levels)
        image_format, original_size = "PNG", (size[1], size[0])
    else:
        draft = Draft(_DRAFT_MODES[color], (size[1], size[0])) if spec.antialias else None
        image, image_format, original_size = decode(data, max_pixels, draft)
        unit, background = mnist.fit(image, size, color, spec.resampling, spec.antialias)
    inverted = inverts(polarity, background, 1.0)
    if inverted:
        unit = invert(unit, 1.0)
    return Levels(unit, inverted, original_size, image_format)


def _resolved(spec: ImageSpec) -> tuple[tuple[int, int], Color, ScalePreset | CustomScale]:
    if spec.size is None or spec.color is None or spec.scale is None:
        raise ValueError("the image spec must be resolved (size, color and scale set)")
    return spec.size, spec.color, spec.scale


def inverts(polarity: Polarity, background: float, top: float) -> bool:
    """Invert when told to, or (auto) when the background is light: dark ink on paper."""
    return polarity == "invert" or (polarity == "auto" and background > top / 2)


def invert(pixels: NDArray[Any], top: int | float) -> NDArray[Any]:
    """`top - v` on the colour channels; an alpha channel (the 4th) is kept.

    A Python `top` keeps the array's dtype (255 - bytes stays bytes, 1.0 - float32 stays
    float32, exactly what the MNIST path always computed).
    """
    inverted: NDArray[Any]
    if pixels.shape[-1] != 4:
        inverted = top - pixels
        return inverted
    inverted = pixels.copy()
    inverted[..., :3] = top - pixels[..., :3]
    return inverted


def _finish(levels: NDArray[Any], how: ScalePreset | CustomScale, dtype: str) -> NDArray[Any]:
    """Float dtypes get the scaled values; integer dtypes the 0..255 pixels, rounded."""
    target = np.dtype(dtype)
    if target.kind == "f":
        scaled = scaling.scale(levels.astype(np.float32, copy=False), how)
        return scaled.astype(target, copy=False)
    if levels.dtype == np.uint8:
        return levels.astype(target, copy=False)
    rounded: NDArray[Any] = np.clip(np.rint(levels), 0, 255)
    return rounded.astype(target)


def check_spec(spec: ImageSpec) -> None:
    """Raise ValueError unless `prepare_image` can serve `spec`; call it when a model loads."""
    _, color, how = _resolved(spec)
    scaling.check(how, CHANNELS[color])
