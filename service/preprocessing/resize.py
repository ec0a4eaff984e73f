"""The `stretch`, `crop` and `pad` policies, each as the Keras loader it mirrors.

| resize | antialias=True (Pillow) | antialias=False (TF kernels), `image_dataset_from_directory` |
|---|---|---|
| stretch | `load_img(target_size=...)` | default |
| crop | `load_img(keep_aspect_ratio=True)` | `crop_to_aspect_ratio=True` |
| pad | (same geometry, Pillow resampling) | `pad_to_aspect_ratio=True` |

Crop boxes are computed as each loader computes them: `load_img` with integer
division, `smart_resize` in float32. Padding is `tf.image.resize_with_pad`, which is
what `image_dataset_from_directory` calls: resize to fit, then zeros around, the
offset rounded down. (`keras.ops.image.resize(pad_to_aspect_ratio=True)` and the
`Resizing` layer differ slightly: they pad the source first, then resize, so the
edge pixels blend into the padding.) The padding itself is added by the caller,
after polarity has looked at the picture rather than at the zeros.

Pillow has no "area" filter; its BOX filter averages the covered area the same way.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from service.card import Interpolation
from service.preprocessing import resize_like_tf

Policy = Literal["stretch", "crop", "pad"]
Box = tuple[int, int, int, int]  # left, top, right, bottom

PIL_FILTERS: dict[Interpolation, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class Placement:
    """Where the resized picture goes in the (height, width) target: its size and offset."""

    size: tuple[int, int]  # height, width of the picture
    offset: tuple[int, int]  # top, left


def resize(
    image: Image.Image,
    policy: Policy,
    size: tuple[int, int],
    interpolation: Interpolation,
    antialias: bool,
) -> tuple[NDArray[np.generic], Placement]:
    """The picture resized for `policy` ([h, w] or [h, w, c]) and where it sits in `size`."""
    width, height = image.size
    placement = Placement(size, (0, 0))
    box: Box | None = None
    if policy == "pad":
        placement = pad_placement(height, width, size)
    elif policy == "crop":
        box = crop_box_pil(width, height, size) if antialias else crop_box_tf(width, height, size)
    if antialias:
        return _pil(image, placement.size, interpolation, box), placement
    return _tf(image, placement.size, interpolation, box), placement


def _pil(
    image: Image.Image, size: tuple[int, int], interpolation: Interpolation, box: Box | None
) -> NDArray[np.generic]:
    height, width = size
    if image.size != (width, height):  # load_img does not resample an image already in size
        image = image.resize((width, height), PIL_FILTERS[interpolation], box=box)
    return np.asarray(image)


def _tf(
    image: Image.Image, size: tuple[int, int], interpolation: Interpolation, box: Box | None
) -> NDArray[np.float32]:
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if box is not None:
        left, top, right, bottom = box
        pixels = pixels[top:bottom, left:right]
    return resize_like_tf.resize(pixels, size, interpolation)


def crop_box_pil(width: int, height: int, size: tuple[int, int]) -> Box:
    """The centred crop of `load_img(keep_aspect_ratio=True)`: integer division."""
    target_height, target_width = size
    crop_height = min(height, (width * target_height) // target_width)
    crop_width = min(width, (height * target_width) // target_height)
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return left, top, left + crop_width, top + crop_height


def crop_box_tf(width: int, height: int, size: tuple[int, int]) -> Box:
    """The centred crop of `smart_resize` on a tensor of unknown shape: float32 maths."""
    target_height, target_width = (np.float32(side) for side in size)
    crop_height = max(min(height, int(np.float32(width) * target_height / target_width)), 1)
    crop_width = max(min(width, int(np.float32(height) * target_width / target_height)), 1)
    top = int(np.float32(height - crop_height) / np.float32(2))
    left = int(np.float32(width - crop_width) / np.float32(2))
    return left, top, left + crop_width, top + crop_height


def pad_placement(height: int, width: int, size: tuple[int, int]) -> Placement:
    """`tf.image.resize_with_pad`'s geometry, float32 like the op (never below 1 pixel)."""
    target_height, target_width = (np.float32(side) for side in size)
    ratio = max(np.float32(width) / target_width, np.float32(height) / target_height)
    fitted_height, fitted_width = np.float32(height) / ratio, np.float32(width) / ratio
    top = max(0, int(np.floor((target_height - fitted_height) / np.float32(2))))
    left = max(0, int(np.floor((target_width - fitted_width) / np.float32(2))))
    fitted = (max(1, int(np.floor(fitted_height))), max(1, int(np.floor(fitted_width))))
    return Placement(fitted, (top, left))


def place(
    picture: NDArray[np.generic], placement: Placement, size: tuple[int, int]
) -> NDArray[np.generic]:
    """`picture` ([h, w, c]) on a zero canvas of `size`, at the placement's offset."""
    if picture.shape[:2] == size:
        return picture
    canvas = np.zeros((*size, picture.shape[2]), dtype=picture.dtype)
    top, left = placement.offset
    rows, columns = picture.shape[:2]
    canvas[top : top + rows, left : left + columns] = picture
    return canvas
