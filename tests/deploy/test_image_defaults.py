"""The image names a default model per task, the same as compose and `make serve`, and
each is a committed zoo model of that task, so `POST /classify` on a plain `docker run`
needs no `?model=`."""

import json
import re

from service.config import Settings
from tests.deploy.conftest import ROOT


def _image_defaults() -> str:
    found = re.search(r"KERASSERVE_DEFAULT_MODELS=(\S+)", (ROOT / "Dockerfile").read_text())
    assert found is not None, "the Dockerfile sets no KERASSERVE_DEFAULT_MODELS"
    return found[1]


def test_the_image_defaults_are_zoo_models_of_their_task():
    # Read as the service reads the variable: task=model pairs, tasks checked.
    defaults = Settings.model_validate(
        {"models_dir": ROOT / "models", "default_models": _image_defaults()}
    )
    assert set(defaults.default_models) == {"classify", "forecast", "generate"}
    for task, name in defaults.default_models.items():
        cards = sorted((ROOT / "models" / name).glob("*/model_card.json"))
        assert cards, f"{name} is not in models/"
        assert json.loads(cards[-1].read_text())["task"] == task


def test_compose_and_make_use_the_image_defaults():
    image = _image_defaults()
    compose = (ROOT / "docker-compose.yml").read_text()
    assert f"KERASSERVE_DEFAULT_MODELS:-{image}}}" in compose
    make = re.search(r"^DEFAULT_MODELS \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert make is not None and make[1] == image
