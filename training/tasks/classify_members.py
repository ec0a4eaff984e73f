"""Classifier ensembles: members fitted side by side, one process each, served as one model.

Members differ only by the seed their weights, shuffling and augmentation start
from; the data split stays the run's. On a CPU, one process per member with its
share of the cores trains more images a minute than one process using them all
(TensorFlow's per-op threading leaves cores idle on small convolutions), so the
members run at once rather than one after another.
"""

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training.datasets import ImageDataset
from training.recipes import HParams, Recipe
from training.run import RunOptions

logger = logging.getLogger(__name__)

MEMBER_FILE = "member.keras"
FitClassifier = Callable[
    [Recipe, HParams, RunOptions, tf.distribute.Strategy, ImageDataset, int, Path],
    tuple[keras.Model, dict[str, list[float]]],
]


@dataclass(frozen=True)
class MemberJob:
    """What one member process needs: the run, which member it is, how many threads."""

    recipe: Recipe
    hparams: HParams
    options: RunOptions
    index: int
    threads: int
    fit: FitClassifier

    @property
    def seed(self) -> int:
        return member_seed(self.options.seed, self.index)

    @property
    def work_dir(self) -> Path:
        return self.options.work_dir / self.recipe.name / f"member_{self.index}"


@dataclass(frozen=True)
class FittedMember:
    index: int
    seed: int
    path: Path
    history: dict[str, list[float]]


def member_seed(run_seed: int, index: int) -> int:
    """Member 0 starts from the run's seed, so a one-member run is the plain run."""
    return run_seed + index


def threads_per_member(members: int, cores: int | None = None) -> int:
    """The cores shared out evenly, at least one thread each."""
    return max(1, (cores or os.cpu_count() or 1) // members)


def fit_member(job: MemberJob) -> FittedMember:
    """Fit one member in this (fresh) process and save it; runs before any TF op here."""
    # Imported here: set-up must come before this process's first TensorFlow op.
    from training.devices import DeviceOptions, configure_devices
    from training.run import load_recipe_images

    tf.config.threading.set_intra_op_parallelism_threads(job.threads)
    tf.config.threading.set_inter_op_parallelism_threads(job.threads)
    configure_devices(DeviceOptions(seed=job.seed, xla=job.options.xla))
    data = load_recipe_images(job.recipe, job.options)
    strategy = tf.distribute.get_strategy()
    model, history = job.fit(
        job.recipe, job.hparams, job.options, strategy, data, job.seed, job.work_dir
    )
    path = job.work_dir / MEMBER_FILE
    model.save(path)
    return FittedMember(job.index, job.seed, path, history)


def fit_members(
    recipe: Recipe, hparams: HParams, options: RunOptions, fit: FitClassifier
) -> list[FittedMember]:
    """Fit ``hparams["members"]`` members at once, each in a spawned process."""
    count = int(hparams["members"])
    threads = threads_per_member(count)
    jobs = [MemberJob(recipe, hparams, options, index, threads, fit) for index in range(count)]
    logger.info("fitting %d members side by side, %d thread(s) each", count, threads)
    # Spawned, not forked: a forked child would inherit this process's TF runtime.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        return list(pool.map(fit_member, jobs))


def load_members(fitted: list[FittedMember]) -> list[keras.Model]:
    return [keras.saving.load_model(member.path, compile=False) for member in fitted]


def ensemble_classifier(members: list[keras.Model]) -> keras.Model:
    """One classifier from several, answering the mean of their logits.

    Each member ends in a ``logits`` Dense layer on its ``features``, so the mean
    of their logits is itself one Dense layer on their features set side by side
    (kernels stacked and divided by the count, biases averaged). The ensemble is
    then a zoo classifier like any other: ``features`` (the joined vector) feeds
    ``logits``, which fine-tuning and the served ``features`` output rely on.
    """
    first = members[0]
    images = keras.Input(shape=tuple(first.input.shape[1:]), name=first.layers[0].name)
    features = [
        keras.Model(member.input, member.get_layer("features").output, name=f"member_{index}")(
            images
        )
        for index, member in enumerate(members)
    ]
    joined = keras.layers.Concatenate(name="features")(features)
    heads = [member.get_layer("logits") for member in members]
    kernel = np.concatenate([head.kernel.numpy() for head in heads]) / len(heads)
    bias = np.mean([head.bias.numpy() for head in heads], axis=0)
    head = keras.layers.Dense(len(bias), dtype="float32", name="logits")
    logits = head(joined)
    head.set_weights([kernel, bias])
    return keras.Model(images, logits, name=f"{first.name}_ensemble")


def mean_history(histories: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Epoch-by-epoch mean of the members' curves, over the epochs all of them ran."""
    epochs = min(len(values) for history in histories for values in history.values())
    return {
        key: [float(np.mean([h[key][epoch] for h in histories])) for epoch in range(epochs)]
        for key in histories[0]
    }
