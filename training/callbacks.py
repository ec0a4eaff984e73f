"""Callbacks every supervised run uses: early stopping, plateau schedule, checkpoints."""

import math
from pathlib import Path

import keras


def standard_callbacks(
    checkpoint_dir: Path, patience: int, schedule: str, epochs: int
) -> list[keras.callbacks.Callback]:
    """Early stopping on validation loss (best weights restored), LR schedule, checkpoints."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True, verbose=1
        ),
        keras.callbacks.ModelCheckpoint(
            str(checkpoint_dir / "best.weights.h5"),
            monitor="val_loss",
            save_best_only=True,
            save_weights_only=True,
        ),
    ]
    if schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=max(1, patience // 3), min_lr=1e-6
            )
        )
    elif schedule == "cosine":
        callbacks.append(keras.callbacks.LearningRateScheduler(CosineByEpoch(epochs)))
    elif schedule != "constant":
        raise ValueError(f"unknown schedule {schedule!r}: use plateau, cosine or constant")
    return callbacks


class CosineByEpoch:
    """Cosine decay from the compiled rate down to ``floor`` times it over ``epochs``."""

    def __init__(self, epochs: int, floor: float = 0.01) -> None:
        self.epochs = max(1, epochs)
        self.floor = floor
        self.initial: float | None = None

    def __call__(self, epoch: int, lr: float) -> float:

        if self.initial is None:
            self.initial = float(lr)
        progress = min(1.0, epoch / self.epochs)
        factor = self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress))
        return self.initial * factor
