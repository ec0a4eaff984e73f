"""The committed model zoo answers `POST /v1/classify` on real images exactly as pinned.

`tests/data/zoo_answers.json` holds the full answers the service gave, from a clean
checkout of the commit before the preprocessing refactor, for every image below and
each classifier (plus one `polarity=keep` and one `polarity=invert` call each), as
`{model: {image: {query: answer}}}`. Labels, indices and `inverted` must match
exactly, scores to 1e-6, and the returned model input pixel for pixel.

Re-record only when a change of answers is intended:

    python -m tests.service.api.test_live_zoo_pinned
"""

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from service.config import Settings
from tests.service.api.live import serve_in_thread

REPO = Path(__file__).resolve().parents[3]
IMAGES_DIR = REPO / "tests" / "data" / "images"
PINS_PATH = REPO / "tests" / "data" / "zoo_answers.json"
MODELS = ("fashion_mlp", "fashion_cnn", "mnist_lenet")
IMAGES = (
    "fashion-trouser.png",
    "zoo/digit7-gray.png",
    "zoo/digit7-dark-on-light.jpg",
    "zoo/sneaker-60x40-rgb.png",
    "zoo/digit3-rgba.png",
    "zoo/bag-gray16-dark-on-light.png",
    "zoo/digit5-then-2-animated.gif",
    "zoo/ankle-boot-56x56.webp",
    "zoo/pullover-112x112-dark-on-light.jpg",
)
POLARITY_IMAGE = "zoo/digit7-dark-on-light.jpg"  # auto inverts it; keep/invert force each way
MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
SCORE_TOLERANCE = 1e-6

Call = tuple[str, str, str]  # model, image, query
Pins = dict[str, dict[str, dict[str, dict[str, Any]]]]


def all_calls() -> list[Call]:
    calls = []
    for model in MODELS:
        base = f"model={model}&top_k=10&return_input=true"
        calls += [(model, image, base) for image in IMAGES]
        calls += [(model, POLARITY_IMAGE, f"{base}&polarity={p}") for p in ("keep", "invert")]
    return calls


# The versions the pins were recorded from. A newer version of one of these models
# changes its answers by design; it is checked by tests/training/test_zoo.py.
PINNED_VERSIONS: dict[str, tuple[int, ...]] = {
    "fashion_mlp": (1,),
    "fashion_cnn": (1,),
    "mnist_lenet": (2,),
}


def zoo_settings() -> Settings:
    return Settings(
        models_dir=REPO / "models",
        model_names=MODELS,
        version_policy="specific",
        pinned_versions=PINNED_VERSIONS,
        poll_interval_s=0,
        log_format="text",
    )


def classify(http: httpx.Client, image: str, query: str) -> dict[str, Any]:
    path = IMAGES_DIR / image
    response = http.post(
        f"/v1/classify?{query}",
        content=path.read_bytes(),
        headers={"Content-Type": MEDIA_TYPES[path.suffix]},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def decoded_pixels(png_base64: str) -> tuple[str, NDArray[Any]]:
    with Image.open(io.BytesIO(base64.b64decode(png_base64))) as image:
        return image.mode, np.asarray(image)


def assert_same_top_k(actual: list[dict[str, Any]], pinned: list[dict[str, Any]]) -> None:
    assert [entry["label"] for entry in actual] == [entry["label"] for entry in pinned]
    assert [entry["index"] for entry in actual] == [entry["index"] for entry in pinned]
    np.testing.assert_allclose(
        [entry["score"] for entry in actual],
        [entry["score"] for entry in pinned],
        rtol=0,
        atol=SCORE_TOLERANCE,
    )


def assert_same_result(actual: dict[str, Any], pinned: dict[str, Any]) -> None:
    assert actual.keys() == pinned.keys()
    assert actual["inverted"] == pinned["inverted"]
    assert_same_top_k(actual["top_k"], pinned["top_k"])
    got_mode, got = decoded_pixels(actual["input_png_base64"])
    want_mode, want = decoded_pixels(pinned["input_png_base64"])
    assert got_mode == want_mode
    np.testing.assert_array_equal(got, want)


def assert_same_answer(actual: dict[str, Any], pinned: dict[str, Any]) -> None:
    assert actual.keys() == pinned.keys()
    assert (actual["model"], actual["version"]) == (pinned["model"], pinned["version"])
    assert actual["inverted"] == pinned["inverted"]
    assert_same_top_k(actual["top_k"], pinned["top_k"])
    assert len(actual["results"]) == len(pinned["results"])
    for got, want in zip(actual["results"], pinned["results"], strict=True):
        assert_same_result(got, want)


@pytest.fixture(scope="module")
def pins() -> Pins:
    pinned: Pins = json.loads(PINS_PATH.read_text())
    return pinned


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with (
        serve_in_thread(zoo_settings()) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        yield client


def test_pins_cover_every_call_and_zoo_image(pins: Pins) -> None:
    pinned = {(m, i, q) for m, images in pins.items() for i, qs in images.items() for q in qs}
    assert pinned == set(all_calls())
    on_disk = {f"zoo/{path.name}" for path in (IMAGES_DIR / "zoo").iterdir()}
    assert on_disk <= set(IMAGES)


@pytest.mark.parametrize(("model", "image", "query"), all_calls())
def test_classify_answers_as_pinned(
    http: httpx.Client, pins: Pins, model: str, image: str, query: str
) -> None:
    assert_same_answer(classify(http, image, query), pins[model][image][query])


def record_pins() -> Pins:
    """Ask the service in this checkout every pinned question."""
    recorded: Pins = {}
    with (
        serve_in_thread(zoo_settings()) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        for model, image, query in all_calls():
            recorded.setdefault(model, {}).setdefault(image, {})[query] = classify(
                http, image, query
            )
    return recorded


if __name__ == "__main__":
    PINS_PATH.write_text(json.dumps(record_pins(), indent=1, sort_keys=True) + "\n")
