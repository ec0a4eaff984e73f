"""``python -m training finetune``: a new head on an exported classifier, then fine-tuning.

The result is an ordinary classifier version (exported by :class:`ClassifyTask`),
whose card also records the base, the phases and, with ``--baselines``, the test
accuracy of the same data trained from scratch.
"""

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from training.callbacks import standard_callbacks
from training.card import TrainingFacts, card_view, read_card
from training.datasets import ImageDataset
from training.evaluate import to_pixels
from training.finetune import build_transfer_model, feature_extractor, load_base, unfreeze_top
from training.recipes import HParams, Recipe
from training.run import RunOptions, Trained, history_lists, load_recipe_images
from training.tasks.classify import augmentation, build_classifier, image_pipeline

logger = logging.getLogger(__name__)

FINETUNE_DEFAULTS: HParams = {
    "epochs": 60,  # phase 1, the new head
    "fine_tune_epochs": 40,  # phase 2, with --unfreeze K
    "batch_size": 64,
    "lr": 1e-3,  # phase 2 runs at lr / 10
    "dropout": 0.4,
    "patience": 10,
    "schedule": "plateau",
    "augment": "none",
}


@dataclass(frozen=True)
class FinetuneRequest:
    """What to fine-tune, on what, and how far."""

    base: Path
    dataset: str | None = None
    per_class: int | None = None
    unfreeze: int = 0
    baselines: bool = False


def finetune_recipe(request: FinetuneRequest, hparams: HParams) -> Recipe:
    """A recipe describing this run, so the classifier export writes a normal card."""
    source = str(request.dataset or "images")
    return Recipe(
        name=f"finetune_{request.base.parent.name}",
        task="classify",
        architecture=f"transfer:{request.base.parent.name}/{request.base.name}",
        dataset=source,
        description=(
            f"{request.base.parent.name}/{request.base.name} fine-tuned: new head on the frozen "
            f"base, then {'the top ' + str(request.unfreeze) if request.unfreeze else 'no'} "
            "layers unfrozen at lr/10 with BatchNorm in inference mode"
        ),
        hparams=hparams,
    )


def few_per_class(data: ImageDataset, per_class: int, seed: int) -> ImageDataset:
    """The first ``per_class`` training images of each class in a seeded shuffle."""
    rng = np.random.default_rng(seed)
    picked = [
        rng.permutation(np.flatnonzero(data.y_train == label))[:per_class]
        for label in range(data.num_classes)
    ]
    if min(len(p) for p in picked) < per_class:
        raise ValueError(f"{data.name} has fewer than {per_class} training images in a class")
    index = rng.permutation(np.concatenate(picked))
    split = {**data.split, "train_per_class": per_class, "train_used": len(index)}
    return dataclasses.replace(
        data, x_train=data.x_train[index], y_train=data.y_train[index], split=split
    )


def load_data(request: FinetuneRequest, options: RunOptions) -> ImageDataset:
    if options.images is None and request.dataset is None:
        raise ValueError("finetune needs --images DIR or --dataset NAME")
    recipe = Recipe("data", "classify", "none", request.dataset or "images", "")
    data = load_recipe_images(recipe, options)
    return (
        data if request.per_class is None else few_per_class(data, request.per_class, options.seed)
    )


class FinetuneTask:
    def __init__(self, request: FinetuneRequest) -> None:
        self.request = request

    def fit(self, hparams: HParams, options: RunOptions) -> Trained:
        data = load_data(self.request, options)
        recipe = finetune_recipe(self.request, hparams)
        extractor = feature_extractor(load_base(self.request.base))
        model = build_transfer_model(
            extractor, data.image_shape, data.num_classes, float(hparams["dropout"])
        )
        train, validation = self.pipelines(data, hparams, options)
        lr = float(hparams["lr"])
        history = self.phase(model, lr, int(hparams["epochs"]), train, validation, hparams, options)
        unfrozen: list[str] = []
        if self.request.unfreeze > 0:
            unfrozen = unfreeze_top(extractor, self.request.unfreeze)
            logger.info("phase 2: unfrozen %s at lr %g", unfrozen, lr / 10)
            more = self.phase(
                model,
                lr / 10,
                int(hparams["fine_tune_epochs"]),
                train,
                validation,
                hparams,
                options,
            )
            history = {key: history[key] + more.get(key, []) for key in history}
        extra: dict[str, dict[str, Any]] = {
            "training": {
                "base": str(self.request.base),
                "base_name": read_card(self.request.base).name,
                "unfreeze": self.request.unfreeze,
                "unfrozen_layers": unfrozen,
                "adapters": [
                    layer.name for layer in model.layers if layer.name.startswith("adapt_")
                ],
                "phases": "1: base frozen, new head at lr; 2: top K base layers at lr/10, "
                "BatchNorm in inference mode",
            }
        }
        if self.request.baselines:
            extra["metrics"] = {"baselines": self.baselines(data, hparams, options)}
        return Trained(recipe, hparams, model, history, min(history["val_loss"]), data, extra)

    def pipelines(
        self, data: ImageDataset, hparams: HParams, options: RunOptions
    ) -> tuple[Any, Any]:
        augment = augmentation(str(hparams["augment"]), options.seed)
        batch = int(hparams["batch_size"])
        train = image_pipeline(data.x_train, data.y_train, batch, options.seed, augment)
        validation = image_pipeline(data.x_val, data.y_val, 512, options.seed, shuffle=False)
        return train, validation

    def phase(
        self,
        model: keras.Model,
        lr: float,
        epochs: int,
        train: Any,
        validation: Any,
        hparams: HParams,
        options: RunOptions,
    ) -> dict[str, list[float]]:
        """Compile at ``lr`` (recompiling applies the new trainable flags) and fit."""
        model.compile(
            optimizer=keras.optimizers.Adam(lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        callbacks = standard_callbacks(
            options.work_dir / model.name,
            int(hparams["patience"]),
            str(hparams["schedule"]),
            epochs,
        )
        fitted = model.fit(
            train,
            validation_data=validation,
            epochs=epochs,
            callbacks=callbacks,
            verbose=options.verbose,
        )
        return history_lists(fitted)

    def baselines(
        self, data: ImageDataset, hparams: HParams, options: RunOptions
    ) -> dict[str, Any]:
        """Test accuracy of the base's architecture and of LeNet-5, trained from scratch."""
        card = read_card(self.request.base)
        base_hparams = card_view(TrainingFacts, card.training, "training").hyperparameters
        results: dict[str, Any] = {}
        train, validation = self.pipelines(data, hparams, options)
        for architecture in dict.fromkeys([str(card.architecture), "lenet5"]):
            keras.utils.set_random_seed(options.seed)
            dropout = float(base_hparams["dropout"]) if architecture == card.architecture else 0.0
            model = build_classifier(
                architecture, {"dropout": dropout}, data.image_shape, data.num_classes
            )
            history = self.phase(
                model,
                float(hparams["lr"]),
                int(hparams["epochs"]) + int(hparams["fine_tune_epochs"]),
                train,
                validation,
                hparams,
                options,
            )
            logits = model.predict(to_pixels(data.x_test), batch_size=512, verbose=0)
            accuracy = float((logits.argmax(axis=1) == data.y_test).mean())
            results[f"{architecture}_scratch"] = {
                "test_accuracy": round(accuracy, 4),
                "best_val_loss": round(min(history["val_loss"]), 4),
                "epochs_trained": len(history["loss"]),
            }
            logger.info("baseline %s from scratch: test accuracy %.4f", architecture, accuracy)
        return results
