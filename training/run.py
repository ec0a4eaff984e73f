"""What every training run shares: options, results, and the task contract."""

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import keras
import tensorflow as tf

from training.datasets import ImageDataset, load_image_dataset
from training.datasets.folders import FolderOptions, load_image_folder
from training.devices import StrategyName
from training.optimizers import optimizer_name
from training.recipes import HParams, Recipe


@dataclass(frozen=True)
class RunOptions:
    """Command-line options that are not hyperparameters."""

    models_dir: Path = Path("models")
    name: str | None = None
    seed: int = 1234
    limit: int | None = None
    data_dir: Path | None = None
    data_sources: tuple[str, ...] | None = None
    strategy: StrategyName = "default"
    xla: bool = False
    verbose: int | str = 2
    command: str = field(
        default_factory=lambda: shlex.join(["python", "-m", "training", *sys.argv[1:]])
    )
    work_dir: Path = Path(".cache/runs")
    images: Path | None = None  # --images DIR: class folders instead of the recipe's dataset
    folder: FolderOptions = field(default_factory=FolderOptions)


@dataclass
class Trained:
    """A fitted model before export; ``validation_score`` is lower-is-better."""

    recipe: Recipe
    hparams: HParams
    model: keras.Model
    history: dict[str, list[float]]
    validation_score: float
    context: Any
    # Additions to the card's sections, e.g. {"metrics": {...}, "training": {...}}.
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    name: str
    version_dir: Path | None
    metrics: dict[str, Any]
    hparams: HParams


class TaskRunner(Protocol):
    """One implementation per task kind: fit on the recipe's data, then export."""

    def fit(
        self,
        recipe: Recipe,
        hparams: HParams,
        options: RunOptions,
        strategy: tf.distribute.Strategy,
    ) -> Trained: ...

    def export(self, trained: Trained, options: RunOptions, chief: bool) -> RunResult: ...


def history_lists(history: keras.callbacks.History) -> dict[str, list[float]]:
    """Keras history as plain floats, ready for JSON and plots."""
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def limit_examples(count: int, limit: int | None) -> int:
    return count if limit is None else min(count, limit)


def training_facts(trained: Trained, options: RunOptions) -> dict[str, Any]:
    """The card's ``training`` section: how to reproduce this version, how long it took
    and, when the recipe names one, the published figure it is measured against."""
    facts: dict[str, Any] = {
        "recipe": trained.recipe.name,
        "description": trained.recipe.description,
        "command": options.command,
        "hyperparameters": dict(trained.hparams),
        "seed": options.seed,
        "strategy": options.strategy,
        "optimizer": optimizer_name(float(trained.hparams.get("weight_decay", 0.0))),
        "history": trained.history,
    }
    if trained.recipe.reference:
        facts["reference"] = trained.recipe.reference
    return {**facts, **trained.extra.get("training", {})}


def load_recipe_images(recipe: Recipe, options: RunOptions) -> ImageDataset:
    """The recipe's image dataset, from the sources the options allow, or ``--images``."""
    if options.images is not None:
        return load_image_folder(options.images, options.folder, seed=options.seed)
    return load_image_dataset(
        recipe.dataset,  # type: ignore[arg-type]
        local_dir=options.data_dir,
        seed=options.seed,
        sources=options.data_sources,
        label_mode=recipe.label_mode,
    )
