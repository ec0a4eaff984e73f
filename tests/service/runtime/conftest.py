"""Real tiny SavedModels, exported once per session and copied into each test's models dir."""

import json
import shutil
from pathlib import Path

import pytest

from tests.utils.zoo import export_tiny_classifier, export_tiny_forecaster, export_tiny_generator


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Version directories of one tiny model per family (random weights)."""
    root = tmp_path_factory.mktemp("zoo")
    return {
        "tiny_classifier": export_tiny_classifier(root),
        "tiny_forecaster": export_tiny_forecaster(root),
        "tiny_generator": export_tiny_generator(root),
    }


def publish(source: Path, models_dir: Path, name: str, version: int) -> Path:
    """Copy a version in atomically (stage, then rename), with the card's version fixed."""
    staging = models_dir / name / f".staging-{version}"
    shutil.copytree(source, staging)
    card_path = staging / "model_card.json"
    card = json.loads(card_path.read_text())
    card.update(name=name, version=version)
    card_path.write_text(json.dumps(card))
    target = models_dir / name / str(version)
    staging.rename(target)
    return target
