"""Train image classifiers with softmax cross-entropy on logits; export and evaluate them."""

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from service.card import MNIST_IMAGE, ImageSpec, TaskParams
from training import plots
from training.callbacks import standard_callbacks
from training.card import build_card, plain_image, write_card
from training.datasets import ImageDataset
from training.datasets.folders import FolderDataset
from training.evaluate import evaluate_classifier, to_pixels
from training.export import (
    classifier_serving_model,
    export_saved_model,
    image_input_spec,
    staged_version,
)
from training.losses import classification_loss
from training.models import build_alexnet, build_inception, build_lenet5, build_mlp, build_vgg
from training.multiworker import is_multiworker, prepare_multiworker_fit
from training.optimizers import adam
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
from training.tasks.classify_members import (
    ensemble_classifier,
    fit_members,
    load_members,
    mean_history,
)

logger = logging.getLogger(__name__)

MNIST_FAMILY = ("mnist", "fashion_mnist")
MNIST_PREPROCESSING = (
    "float32 pixels [N, 28, 28, 1] in [0, 1]: grayscale, light strokes on a dark "
    "background (as MNIST / Fashion-MNIST), the object centred and filling the frame"
)
BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "mlp": build_mlp,
    "lenet5": build_lenet5,
    "vgg": build_vgg,
    "alexnet": build_alexnet,
    "inception": build_inception,
}


def build_classifier(
    architecture: str,
    hparams: HParams,
    input_shape: tuple[int, int, int],
    num_classes: int,
) -> keras.Model:
    if architecture not in BUILDERS:
        raise ValueError(f"unknown classifier architecture {architecture!r}")
    builder = BUILDERS[architecture]
    return builder(input_shape, num_classes, dropout=float(hparams["dropout"]))


def image_facts(data: ImageDataset) -> tuple[ImageSpec, str]:
    """The card's ``image`` block and preprocessing note: what training fed the model.

    The MNIST family was fitted and centred in 28x28 like the originals; any
    other set is taken as it comes, pixels scaled to [0, 1].
    """
    if data.name in MNIST_FAMILY:
        return MNIST_IMAGE, MNIST_PREPROCESSING
    if isinstance(data, FolderDataset) and data.image is not None:
        return data.image, data.preprocessing
    spec = plain_image(data.image_shape)
    height, width, channels = data.image_shape
    return spec, (
        f"float32 pixels [N, {height}, {width}, {channels}] in [0, 1] ({spec.color}, "
        f"channels last), the whole image stretched to {height}x{width}"
    )


def augmentation(kind: str, seed: int) -> keras.Sequential | None:
    """Training-only image augmentation, kept out of the exported model."""
    if kind == "none":
        return None
    if kind == "flip":
        # Mirror images only: nearly free on CPU, and the labels are symmetric.
        steps = [keras.layers.RandomFlip("horizontal", seed=seed)]
    elif kind == "flip_shift":
        steps = [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed),
        ]
    elif kind == "affine":
        steps = [
            keras.layers.RandomRotation(0.04, fill_mode="constant", seed=seed),
            keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
        ]
    else:
        raise ValueError(f"unknown augment {kind!r}: use none, flip, flip_shift or affine")
    return keras.Sequential(steps, name=f"augment_{kind}")


def image_pipeline(
    images: NDArray[np.uint8],
    labels: NDArray[np.uint8],
    batch_size: int,
    seed: int,
    augment: keras.Sequential | None = None,
    shuffle: bool = True,
) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((to_pixels(images), labels.astype(np.int32)))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment is not None:
        dataset = dataset.map(
            lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def fit_classifier(
    recipe: Recipe,
    hparams: HParams,
    options: RunOptions,
    strategy: tf.distribute.Strategy,
    data: ImageDataset,
    seed: int,
    checkpoint_dir: Path,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Build, compile and fit one classifier; ``seed`` drives shuffling and augmentation."""
    count = limit_examples(len(data.y_train), options.limit)
    batch_size = int(hparams["batch_size"])
    train = image_pipeline(
        data.x_train[:count],
        data.y_train[:count],
        batch_size,
        seed,
        augmentation(str(hparams["augment"]), seed),
    )
    validation = image_pipeline(data.x_val, data.y_val, 512, seed, shuffle=False)
    with strategy.scope():
        model = build_classifier(recipe.architecture, hparams, data.image_shape, data.num_classes)
        model.compile(
            optimizer=adam(float(hparams["lr"]), float(hparams.get("weight_decay", 0.0))),
            loss=classification_loss(float(hparams.get("label_smoothing", 0.0))),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=options.xla,
        )
    if is_multiworker(strategy):
        prepare_multiworker_fit(model, next(iter(train)))
    epochs = int(hparams["epochs"])
    callbacks = standard_callbacks(
        checkpoint_dir, int(hparams["patience"]), str(hparams["schedule"]), epochs
    )
    fitted = model.fit(
        train,
        validation_data=validation,
        epochs=epochs,
        callbacks=callbacks,
        verbose=options.verbose,
    )
    return model, history_lists(fitted)


class ClassifyTask:
    def fit(
        self,
        recipe: Recipe,
        hparams: HParams,
        options: RunOptions,
        strategy: tf.distribute.Strategy,
    ) -> Trained:
        data = load_recipe_images(recipe, options)
        if int(hparams.get("members", 1)) > 1:
            return self.fit_ensemble(recipe, hparams, options, strategy, data)
        model, history = fit_classifier(
            recipe, hparams, options, strategy, data, options.seed, options.work_dir / recipe.name
        )
        return Trained(recipe, hparams, model, history, min(history["val_loss"]), data)

    def fit_ensemble(
        self,
        recipe: Recipe,
        hparams: HParams,
        options: RunOptions,
        strategy: tf.distribute.Strategy,
        data: ImageDataset,
    ) -> Trained:
        """Members fitted side by side, joined into one model scored on validation."""
        if is_multiworker(strategy):
            raise ValueError("members > 1 runs one process per member: not with multiworker")
        fitted = fit_members(recipe, hparams, options, fit_classifier)
        model = ensemble_classifier(load_members(fitted))
        model.compile(
            loss=classification_loss(float(hparams.get("label_smoothing", 0.0))),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        validation = image_pipeline(data.x_val, data.y_val, 512, options.seed, shuffle=False)
        loss, accuracy = model.evaluate(validation, verbose=0)
        members = [
            {
                "seed": member.seed,
                "best_val_loss": round(min(member.history["val_loss"]), 4),
                "val_accuracy": round(
                    member.history["val_accuracy"][int(np.argmin(member.history["val_loss"]))], 4
                ),
            }
            for member in fitted
        ]
        extra: dict[str, dict[str, Any]] = {
            "metrics": {"val_accuracy": round(float(accuracy), 4)},
            "training": {"members": members},
        }
        history = mean_history([member.history for member in fitted])
        return Trained(recipe, hparams, model, history, float(loss), data, extra)

    def export(self, trained: Trained, options: RunOptions, chief: bool) -> RunResult:
        data: ImageDataset = trained.context
        name = options.name or trained.recipe.name
        flip_average = bool(trained.hparams.get("flip_average", False))
        serving = classifier_serving_model(trained.model, flip_average)
        image, preprocessing = image_facts(data)
        models_dir = options.models_dir if chief else options.work_dir / "non_chief_exports"
        with staged_version(models_dir, name) as staged:
            # A flip-averaging export keeps the plain network as model.keras: fine-tuning
            # looks for its ``features`` layer.
            export_saved_model(
                serving,
                staged.staging,
                [image_input_spec(data.image_shape)],
                native=trained.model if flip_average else None,
            )
            metrics, matrix = evaluate_classifier(staged.staging, data.x_test, data.y_test)
            metrics["best_val_loss"] = round(trained.validation_score, 4)
            metrics["epochs_trained"] = len(trained.history["loss"])
            metrics.update(trained.extra.get("metrics", {}))
            plots.learning_curves(trained.history, staged.staging / "learning_curves.png")
            plots.confusion_matrix_plot(
                matrix, data.labels, staged.staging / "confusion_matrix.png"
            )
            card = build_card(
                name=name,
                version=staged.version,
                task="classify",
                model=trained.model,
                serving_model=serving,
                labels=data.labels,
                preprocessing=preprocessing,
                metrics=metrics,
                data=dataset_facts(data, options),
                training=training_facts(trained, options),
                task_params=TaskParams(image_shape=data.image_shape, num_classes=data.num_classes),
                plots=["learning_curves.png", "confusion_matrix.png"],
                image=image,
            )
            write_card(staged.staging, card)
        logger.info("exported %s: %s", staged.target, metrics["test_accuracy"])
        return RunResult(name, staged.target if chief else None, metrics, trained.hparams)


def dataset_facts(data: ImageDataset, options: RunOptions) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "dataset": data.name,
        "source": data.source,
        "checksum": data.checksum,
        "split": data.split,
        "train_examples_used": limit_examples(len(data.y_train), options.limit),
    }
    if data.label_mode is not None:
        facts["label_mode"] = data.label_mode
    return facts
