"""Judge the generator on the validation split while it trains, and keep its best epoch.

A GAN has no validation loss, so the zoo's rule (choose by validation, report the
test figure once) needs a stand-in: every few epochs the zoo's classifier scores
fresh samples (class consistency) and compares their features with the validation
digits (Fréchet distance). The test split is never looked at here.
"""

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np
from numpy.typing import NDArray

from training.evaluate import Signature, frechet_distance, run_batched, to_pixels

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One validation check of the generator after ``epoch`` epochs."""

    epoch: int
    consistency: float
    worst_class: float
    frechet_distance: float
    ratio: float  # to the real-vs-real distance (training digits vs validation digits)


def select_check(checks: Sequence[Check], max_ratio: float) -> Check:
    """The most consistent check among those whose Fréchet ratio is at most ``max_ratio``
    (ties: the better worst class, then the lower ratio); if none is, the closest one.

    Consistency comes first because a wrong digit is a worse failure than a blurry one,
    and the distance only has to stay within its bound.
    """
    if not checks:
        raise ValueError("no validation check to select from")
    within = [check for check in checks if check.ratio <= max_ratio]
    if within:
        return max(within, key=lambda check: (check.consistency, check.worst_class, -check.ratio))
    return min(checks, key=lambda check: (check.ratio, -check.consistency))


class GeneratorValidation(keras.callbacks.Callback):
    """Every ``every`` epochs (and after the last), checks ``model.sampler`` against the
    validation digits; at the end of training restores the weights of the selected check."""

    def __init__(
        self,
        judge: Signature,
        x_val: NDArray[np.uint8],
        x_reference: NDArray[np.uint8],
        latent_dim: int,
        num_classes: int,
        every: int,
        max_ratio: float,
        seed: int,
        samples_per_class: int | None = None,
    ) -> None:
        super().__init__()
        if every < 1:
            raise ValueError(f"validate_every must be at least 1, got {every}")
        self.judge = judge
        self.every = every
        self.max_ratio = max_ratio
        self.val_features = run_batched(judge, {"images": to_pixels(x_val)})["features"]
        reference = run_batched(judge, {"images": to_pixels(x_reference)})["features"]
        self.real_distance = frechet_distance(reference, self.val_features)
        # By default as many samples as validation digits; more make consistency, which
        # the selection maximises, less noisy (1,000 samples: +-0.005; 5,000: +-0.0024).
        per_class = samples_per_class or -(-len(x_val) // num_classes)
        self.labels = np.repeat(np.arange(num_classes, dtype=np.int32), per_class)
        rng = np.random.default_rng(seed)
        self.noise = rng.standard_normal((len(self.labels), latent_dim)).astype(np.float32)
        self.num_classes = num_classes
        # Fréchet features from as many samples as there are validation digits, all classes.
        self.subset = rng.permutation(len(self.labels))[: len(x_val)]
        self.checks: list[Check] = []
        self._best_weights: list[NDArray[Any]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        done = epoch + 1
        if done % self.every and done != self.params.get("epochs"):
            return
        check = self.check(done)
        self.checks.append(check)
        if self.selected is check:  # the rule is incremental: keep only the best weights
            self._best_weights = self.model.sampler.get_weights()
        logger.info("validation check %s", check)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self.checks:
            return
        self.model.sampler.set_weights(self._best_weights)
        logger.info("restored the generator of epoch %d: %s", self.selected.epoch, self.selected)

    @property
    def selected(self) -> Check:
        return select_check(self.checks, self.max_ratio)

    def check(self, epoch: int) -> Check:
        generated = self.model.calibrated_sampler()([self.noise, self.labels], training=False)
        pixels = np.asarray(generated, np.float32) * 0.5 + 0.5
        judged = run_batched(self.judge, {"images": pixels})
        predicted = judged["probabilities"].argmax(axis=1)
        correct = predicted == self.labels
        per_class = [float(correct[self.labels == k].mean()) for k in range(self.num_classes)]
        fake = judged["features"][self.subset]
        distance = frechet_distance(fake, self.val_features)
        return Check(
            epoch=epoch,
            consistency=round(float(correct.mean()), 4),
            worst_class=round(min(per_class), 4),
            frechet_distance=round(distance, 4),
            ratio=round(distance / self.real_distance, 3),
        )

    def record(self) -> dict[str, Any]:
        """What the card keeps: every check, the real-vs-real distance, the selected epoch."""
        return {
            "validation_checks": [asdict(check) for check in self.checks],
            "validation_real_distance": round(self.real_distance, 4),
            "selected_epoch": self.selected.epoch,
            "selection": (
                "highest validation consistency among checks with a Fréchet ratio "
                f"<= {self.max_ratio}"
            ),
        }
