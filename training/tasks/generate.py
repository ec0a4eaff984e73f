"""Train the conditional DCGAN; judge it by the zoo's own classifier."""

import logging
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from service.card import TaskParams
from training import plots
from training.card import build_card, write_card
from training.datasets import ImageDataset
from training.evaluate import (
    frechet_distance,
    load_signature,
    run_batched,
    to_pixels,
)
from training.export import (
    existing_versions,
    export_saved_model,
    generator_serving_model,
    staged_version,
)
from training.models import (
    ConditionalGAN,
    build_class_critic,
    build_discriminator,
    build_generator,
)
from training.recipes import HParams, Recipe
from training.run import (
    RunOptions,
    RunResult,
    Trained,
    history_lists,
    limit_examples,
    load_recipe_images,
    training_facts,
)
from training.tasks.gan_validation import GeneratorValidation

logger = logging.getLogger(__name__)


class SampleGrid(keras.callbacks.Callback):
    """Saves a grid (one row per class, fixed noise) after every ``every`` epochs."""

    def __init__(self, directory: Path, latent_dim: int, num_classes: int, every: int = 5) -> None:
        super().__init__()
        self.directory = directory
        self.every = every
        rng = np.random.default_rng(0)
        self.noise = rng.standard_normal((num_classes * 10, latent_dim)).astype(np.float32)
        self.labels = np.repeat(np.arange(num_classes, dtype=np.int32), 10)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        generator = self.model.calibrated_sampler()
        images = generator([self.noise, self.labels], training=False).numpy() * 0.5 + 0.5
        plots.image_grid(
            images, rows=len(images) // 10, path=self.directory / f"epoch_{epoch + 1:03d}.png"
        )


class GenerateTask:
    def fit(
        self,
        recipe: Recipe,
        hparams: HParams,
        options: RunOptions,
        strategy: tf.distribute.Strategy,
    ) -> Trained:
        data = load_recipe_images(recipe, options)
        count = limit_examples(len(data.y_train), options.limit)
        images = data.x_train[:count].astype(np.float32)[..., np.newaxis] / 127.5 - 1.0
        batch_size = min(int(hparams["batch_size"]), count)
        dataset = (
            tf.data.Dataset.from_tensor_slices((images, data.y_train[:count].astype(np.int32)))
            .shuffle(count, seed=options.seed)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )
        latent_dim, filters = int(hparams["latent_dim"]), int(hparams["base_filters"])
        class_weight = float(hparams["class_weight"])
        with strategy.scope():
            gan = ConditionalGAN(
                build_generator(latent_dim, data.num_classes, filters),
                build_discriminator(
                    data.num_classes,
                    filters,
                    spectral_norm=bool(hparams["spectral_norm"]),
                    projection=bool(hparams["projection"]),
                ),
                latent_dim=latent_dim,
                seed=options.seed,
                label_smoothing=float(hparams["label_smoothing"]),
                ema_decay=float(hparams["ema_decay"]),
                class_critic=build_class_critic(data.num_classes) if class_weight else None,
                class_weight=class_weight,
            )
            gan.compile(**gan_optimizers(hparams), jit_compile=options.xla)
        grid = SampleGrid(options.work_dir / recipe.name / "samples", latent_dim, data.num_classes)
        validation = GeneratorValidation(
            load_signature(evaluator_dir(options.models_dir, str(hparams["evaluator"]))),
            data.x_val,
            data.x_train[: len(data.x_val)],
            latent_dim,
            data.num_classes,
            every=int(hparams["validate_every"]),
            max_ratio=float(hparams["select_max_ratio"]),
            seed=options.seed + 1,  # not the noise the test evaluation draws
            samples_per_class=int(hparams["validation_samples_per_class"]),
        )
        fitted = gan.fit(
            dataset,
            epochs=int(hparams["epochs"]),
            callbacks=[validation, grid],
            verbose=options.verbose,
        )
        extra = {"training": validation.record()}
        # Grid search is refused for a GAN upstream; the validation checks choose the epoch.
        return Trained(
            recipe, hparams, gan.sampler, history_lists(fitted), float("nan"), data, extra
        )

    def export(self, trained: Trained, options: RunOptions, chief: bool) -> RunResult:
        data: ImageDataset = trained.context
        name = options.name or trained.recipe.name
        latent_dim = int(trained.hparams["latent_dim"])
        evaluator = evaluator_dir(options.models_dir, str(trained.hparams["evaluator"]))
        serving = generator_serving_model(trained.model)
        models_dir = options.models_dir if chief else options.work_dir / "non_chief_exports"
        signature = [
            tf.TensorSpec([None, latent_dim], tf.float32, name="noise"),
            tf.TensorSpec([None], tf.int32, name="labels"),
        ]
        with staged_version(models_dir, name) as staged:
            export_saved_model(serving, staged.staging, signature)
            samples = int(trained.hparams["samples_per_class"])
            metrics, grid = evaluate_generator(
                staged.staging, evaluator, data, latent_dim, samples, options.seed
            )
            metrics["epochs_trained"] = len(trained.history["g_loss"])
            metrics["selected_epoch"] = trained.extra["training"]["selected_epoch"]
            plots.learning_curves(trained.history, staged.staging / "learning_curves.png")
            plots.image_grid(
                grid,
                rows=data.num_classes,
                path=staged.staging / "sample_grid.png",
                titles=data.labels,
            )
            card = build_card(
                name=name,
                version=staged.version,
                task="generate",
                model=trained.model,
                serving_model=serving,
                labels=data.labels,
                preprocessing=(
                    f"noise: float32 [N, {latent_dim}] standard normal; labels: int32 [N] class"
                ),
                metrics=metrics,
                data={
                    "dataset": data.name,
                    "source": data.source,
                    "checksum": data.checksum,
                    "split": data.split,
                },
                training=training_facts(trained, options),
                task_params=TaskParams(
                    latent_dim=latent_dim, num_classes=data.num_classes, image_shape=(28, 28, 1)
                ),
                plots=["learning_curves.png", "sample_grid.png"],
            )
            write_card(staged.staging, card)
        logger.info("exported %s: %s", staged.target, metrics)
        return RunResult(name, staged.target if chief else None, metrics, trained.hparams)


def gan_optimizers(hparams: HParams) -> dict[str, keras.Optimizer]:
    """Adam for each network at its own rate: the two time-scale update rule (Heusel et
    al., 2017) lets the critics learn faster than the generator they judge."""
    optimizers = {
        "d_optimizer": keras.optimizers.Adam(float(hparams["d_lr"]), beta_1=0.5),
        "g_optimizer": keras.optimizers.Adam(float(hparams["g_lr"]), beta_1=0.5),
    }
    if float(hparams["class_weight"]):
        optimizers["c_optimizer"] = keras.optimizers.Adam(float(hparams["d_lr"]), beta_1=0.5)
    return optimizers


def evaluator_dir(models_dir: Path, name: str) -> Path:
    versions = existing_versions(models_dir / name)
    if not versions:
        raise FileNotFoundError(
            f"the generator is judged by classifier {name!r}, which has no version under "
            f"{models_dir}: train it first or pass --set evaluator=<classifier name>"
        )
    return models_dir / name / str(versions[-1])


def generate(
    version_dir: Path, labels: NDArray[np.int32], latent_dim: int, seed: int
) -> NDArray[np.float32]:
    """Images from the exported generator for the given labels, with seeded noise."""
    noise = (
        np.random.default_rng(seed).standard_normal((len(labels), latent_dim)).astype(np.float32)
    )
    return run_batched(load_signature(version_dir), {"noise": noise, "labels": labels})["images"]


def evaluate_generator(
    version_dir: Path,
    evaluator: Path,
    data: ImageDataset,
    latent_dim: int,
    samples_per_class: int,
    seed: int,
) -> tuple[dict[str, Any], NDArray[np.float32]]:
    """Class consistency and Fréchet distance on the evaluator's penultimate features."""
    labels = np.repeat(np.arange(data.num_classes, dtype=np.int32), samples_per_class)
    images = generate(version_dir, labels, latent_dim, seed)
    judge = load_signature(evaluator)
    fake = run_batched(judge, {"images": images})
    predicted = fake["probabilities"].argmax(axis=1)
    per_class = [float((predicted[labels == k] == k).mean()) for k in range(data.num_classes)]
    real = run_batched(judge, {"images": to_pixels(data.x_test)})["features"]
    order = np.random.default_rng(seed).permutation(len(real))
    half_a, half_b = real[order[: len(real) // 2]], real[order[len(real) // 2 :]]
    fake_subset = fake["features"][
        np.random.default_rng(seed).permutation(len(images))[: len(half_b)]
    ]
    metrics = {
        "class_consistency": round(float((predicted == labels).mean()), 4),
        "class_consistency_per_class": [round(c, 4) for c in per_class],
        "samples_per_class": samples_per_class,
        "evaluator": f"{evaluator.parent.name}/{evaluator.name}",
        "frechet_distance": round(frechet_distance(fake_subset, half_b), 3),
        "frechet_distance_real_halves": round(frechet_distance(half_a, half_b), 3),
        "frechet_feature": "evaluator penultimate layer ('features' output)",
        "frechet_samples": len(half_b),
    }
    grid_index = np.concatenate([np.flatnonzero(labels == k)[:10] for k in range(data.num_classes)])
    return metrics, images[grid_index]
