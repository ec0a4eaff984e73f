"""The zoo's recipes: which architecture, on which data, with which defaults.

A recipe name is also the default model name under ``models/``. Hyperparameters
are plain values so the command line can override them (``--set lr=3e-4``) and
grid-search them (``--param lr=1e-2,1e-3``).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from service.card import Task

HParam = int | float | str | bool
HParams = dict[str, HParam]

_CLASSIFIER_DEFAULTS: HParams = {
    "epochs": 40,
    "batch_size": 128,
    "lr": 1e-3,
    "dropout": 0.0,
    "patience": 6,
    "schedule": "plateau",
    "augment": "none",
    "members": 1,  # > 1: that many seeds fitted side by side, served as one averaged model
}


@dataclass(frozen=True)
class Recipe:
    name: str
    task: Task  # the serving enumeration; no recipe trains "predict"
    architecture: str
    dataset: str
    description: str
    hparams: Mapping[str, HParam] = field(default_factory=dict)
    label_mode: Literal["fine", "coarse"] | None = None  # CIFAR-100 only
    reference: str = ""  # the published or baseline figure the card sets this one against

    def resolve(self, overrides: Mapping[str, str]) -> HParams:
        """Defaults with command-line overrides parsed to each default's type."""
        resolved: HParams = dict(self.hparams)
        for key, raw in overrides.items():
            if key not in resolved:
                known = ", ".join(sorted(resolved))
                raise ValueError(f"{self.name} has no hyperparameter {key!r}; known: {known}")
            resolved[key] = parse_like(raw, resolved[key])
        return resolved


def parse_like(raw: str, default: HParam) -> HParam:
    """Parse ``raw`` to the type of ``default`` (bool before int: bool is an int)."""
    if isinstance(default, bool):
        if raw.lower() not in {"true", "false", "1", "0"}:
            raise ValueError(f"expected true or false, got {raw!r}")
        return raw.lower() in {"true", "1"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "fashion_mlp",
            "classify",
            "mlp",
            "fashion_mnist",
            "784-256-128-64-10 MLP on Fashion-MNIST",
            {**_CLASSIFIER_DEFAULTS, "epochs": 60, "dropout": 0.2, "patience": 8},
        ),
        Recipe(
            "fashion_cnn",
            "classify",
            "vgg",
            "fashion_mnist",
            "two small VGG-style CNNs with BatchNorm and Dropout on Fashion-MNIST, fitted side "
            "by side from two seeds; the export averages their logits on each image and its "
            "mirror image",
            {
                **_CLASSIFIER_DEFAULTS,
                # Two members of 27 epochs of batches of 64 (cheaper per image than 128
                # here), fitted side by side with one core each.
                "members": 2,
                "epochs": 27,
                "batch_size": 64,
                "dropout": 0.3,
                "weight_decay": 0.05,
                "label_smoothing": 0.1,
                "patience": 27,
                "schedule": "cosine",
                "augment": "flip_shift",
                "flip_average": True,
            },
        ),
        Recipe(
            "fashion_alexnet",
            "classify",
            "alexnet",
            "fashion_mnist",
            "AlexNet scaled to 28x28 on Fashion-MNIST: five ReLU convolutions (the first 5x5, "
            "stride 2), overlapping 3x3 stride-2 max-pooling, two 1,024-unit layers with "
            "Dropout 0.5; BatchNorm where the paper had local response normalisation; the "
            "export averages each image's logits with its mirror image's, as the paper "
            "averaged crops and their reflections at test time",
            {
                **_CLASSIFIER_DEFAULTS,
                "epochs": 13,
                "dropout": 0.5,
                "patience": 13,
                "schedule": "cosine",
                "augment": "flip",
                "flip_average": True,
            },
        ),
        Recipe(
            "fashion_inception",
            "classify",
            "inception",
            "fashion_mnist",
            "GoogLeNet-style net on Fashion-MNIST: a stride-2 stem, three Inception modules "
            "(1x1, 1x1-3x3, 1x1-5x5 and pool-1x1 branches), the first on the 14x14 grid, "
            "a max-pool, two on 7x7, global average pooling, a 128-unit head; BatchNorm "
            "after every convolution; label smoothing 0.1",
            {
                **_CLASSIFIER_DEFAULTS,
                "epochs": 24,
                "label_smoothing": 0.1,
                "dropout": 0.4,
                "patience": 24,
                "schedule": "cosine",
                "augment": "flip_shift",
            },
        ),
        Recipe(
            "cifar100_vgg",
            "classify",
            "vgg",
            "cifar100",
            "small VGG-style CNN on CIFAR-100's 100 fine classes (32x32 RGB)",
            {
                **_CLASSIFIER_DEFAULTS,
                "epochs": 60,
                "dropout": 0.4,
                "patience": 60,
                "schedule": "cosine",
                "augment": "flip_shift",
            },
            label_mode="fine",
        ),
        Recipe(
            "mnist_lenet",
            "classify",
            "lenet5",
            "mnist",
            "LeNet-5 on MNIST",
            {
                **_CLASSIFIER_DEFAULTS,
                "epochs": 150,
                "batch_size": 64,
                "lr": 2e-3,
                "dropout": 0.25,
                "patience": 150,
                "schedule": "cosine",
                "augment": "affine",
                "label_smoothing": 0.1,
            },
            reference=(
                "LeNet-5 paper 0.9905 with 60,000 training digits (LeCun et al., 1998); "
                "Keras' small MNIST convnet 0.9922; here 7,000 training digits, so the zoo's "
                "floor is 0.985 on the 2,000-digit mirror test split"
            ),
        ),
        Recipe(
            "co2_lstm",
            "forecast",
            "lstm",
            "co2",
            "SARIMA(1,1,1)(0,1,1,12)'s innovations recursion as a recurrent layer, blended "
            "with an ensemble of five two-layer LSTMs correcting the mean seasonal steps, "
            "forecasting monthly Mauna Loa CO2",
            {
                "epochs": 400,
                "batch_size": 32,
                "lr": 2e-3,
                "dropout": 0.0,
                "patience": 40,
                "schedule": "plateau",
                "window": 240,
                "member": "seasonal",
                "member_window": 121,
                "members": 5,
                "horizon": 12,
                "units": 64,
                "test_months": 120,
                "validation_months": 48,
                "validation_folds": 3,
                "refit": False,
            },
            reference=(
                "SARIMA(1,1,1)(0,1,1,12) fitted by statsmodels on the same training months, "
                "rolling 1-step over the same 120 test months: MAE 0.2354 ppm"
            ),
        ),
        Recipe(
            "mnist_cgan",
            "generate",
            "cgan",
            "mnist",
            "conditional DCGAN generating MNIST digits by label, with an auxiliary classifier of "
            "real digits pulling each sample toward its class; the exported generator is the "
            "running average of its weights over training",
            {
                "epochs": 50,
                "batch_size": 64,
                "g_lr": 2e-4,
                "d_lr": 4e-4,
                "label_smoothing": 0.1,
                "spectral_norm": True,
                "projection": True,
                "ema_decay": 0.999,
                "class_weight": 0.5,
                "latent_dim": 64,
                "base_filters": 64,
                "evaluator": "mnist_lenet",
                "samples_per_class": 1000,
                "validate_every": 2,
                "select_max_ratio": 2.0,
                "validation_samples_per_class": 500,
            },
            reference=(
                "mnist_cgan/1 judged by mnist_lenet/3: class consistency 0.9318, Fréchet "
                "distance 0.710 vs 0.302 real-vs-real (2.35x); issue 11's floors are "
                "consistency >= 0.97, worst class >= 0.93, Fréchet distance <= 2.0x real-vs-real"
            ),
        ),
    )
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None
