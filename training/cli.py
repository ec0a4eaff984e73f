"""Command line: ``python -m training train|grid|finetune|evaluate|recipes``."""

import argparse
import dataclasses
import itertools
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.recipes import RECIPES, HParams, get_recipe

logger = logging.getLogger("training")


def echo(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def parse_assignments(values: Sequence[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key or not raw:
            raise SystemExit(f"{flag} expects key=value, got {value!r}")
        pairs[key.strip()] = raw.strip()
    return pairs


def add_image_folder_arguments(sub: argparse.ArgumentParser) -> None:
    """``--images DIR`` and ``keras.utils.image_dataset_from_directory``'s options."""
    sub.add_argument(
        "--images", type=Path, help="DIR/<class>/*.png|jpg|...: train on your own image folders"
    )
    sub.add_argument("--image-size", default="256x256", metavar="HxW", help="(default 256x256)")
    sub.add_argument("--color-mode", choices=["grayscale", "rgb", "rgba"], default="rgb")
    sub.add_argument("--validation-split", type=float, default=0.2)
    sub.add_argument(
        "--interpolation", choices=["bilinear", "nearest", "bicubic", "area"], default="bilinear"
    )
    aspect = sub.add_mutually_exclusive_group()
    aspect.add_argument("--crop-to-aspect-ratio", action="store_true")
    aspect.add_argument("--pad-to-aspect-ratio", action="store_true")
    sub.add_argument(
        "--strict-images", action="store_true", help="an unreadable file is fatal, not skipped"
    )


def folder_options(args: argparse.Namespace) -> Any:
    from training.datasets.folders import FolderOptions

    height, sep, width = args.image_size.lower().partition("x")
    if not sep or not height.isdigit() or not width.isdigit():
        raise SystemExit(f"--image-size expects HxW, e.g. 64x64; got {args.image_size!r}")
    return FolderOptions(
        image_size=(int(height), int(width)),
        color_mode=args.color_mode,
        validation_split=args.validation_split,
        interpolation=args.interpolation,
        crop_to_aspect_ratio=args.crop_to_aspect_ratio,
        pad_to_aspect_ratio=args.pad_to_aspect_ratio,
        strict=args.strict_images,
    )


def add_finetune_parser(commands: Any) -> None:
    sub = commands.add_parser(
        "finetune", help="new head on an exported classifier, then optionally fine-tune it"
    )
    sub.add_argument("--base", type=Path, required=True, help="models/<name>/<version>")
    sub.add_argument("--dataset", help="a built-in dataset (mnist, fashion_mnist, cifar10, ...)")
    sub.add_argument("--per-class", type=int, help="use only N training images of each class")
    sub.add_argument(
        "--unfreeze", type=int, default=0, metavar="K", help="phase 2: the base's top K layers"
    )
    sub.add_argument(
        "--baselines",
        action="store_true",
        help="also train the base's architecture and LeNet-5 from scratch on the same data",
    )
    sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    sub.add_argument("--models-dir", type=Path, default=Path("models"))
    sub.add_argument("--name", help="model name (default: the image folder's or finetune_<base>)")
    sub.add_argument("--seed", type=int, default=1234)
    sub.add_argument("--data-dir", type=Path)
    sub.add_argument("--data-source", action="append", choices=["keras", "npm", "local"])
    sub.add_argument("--work-dir", type=Path, default=Path(".cache/runs"))
    sub.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1)
    add_image_folder_arguments(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "grid"):
        sub = commands.add_parser(name, help=f"{name} a recipe and export the result")
        sub.add_argument("recipe", choices=sorted(RECIPES))
        sub.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a hyperparameter",
        )
        sub.add_argument("--models-dir", type=Path, default=Path("models"))
        sub.add_argument(
            "--name", help="model name under the models directory (default: the recipe)"
        )
        sub.add_argument("--seed", type=int, default=1234)
        sub.add_argument("--limit", type=int, help="use at most this many training examples")
        sub.add_argument(
            "--data-dir",
            type=Path,
            help="local directory with IDX .gz or .npz files, or the canonical CIFAR .tar.gz",
        )
        sub.add_argument("--data-source", action="append", choices=["keras", "npm", "local"])
        sub.add_argument(
            "--strategy", choices=["default", "mirrored", "multiworker"], default="default"
        )
        sub.add_argument("--mixed-precision", action="store_true", help="float16 compute (GPU)")
        sub.add_argument("--xla", action="store_true", help="compile training steps with XLA")
        sub.add_argument("--work-dir", type=Path, default=Path(".cache/runs"))
        sub.add_argument(
            "--verbose", type=int, choices=[0, 1, 2], default=1, help="1 shows progress bars"
        )
        add_image_folder_arguments(sub)
        if name == "grid":
            sub.add_argument(
                "--param", action="append", default=[], metavar="KEY=V1,V2", required=True
            )
    add_finetune_parser(commands)
    evaluate = commands.add_parser("evaluate", help="evaluate an exported version from disk")
    evaluate.add_argument("version_dir", type=Path)
    evaluate.add_argument("--data-dir", type=Path)
    evaluate.add_argument("--models-dir", type=Path, help="where the generator's evaluator lives")
    commands.add_parser("recipes", help="list the recipes and their defaults")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    if args.command == "recipes":
        for recipe in RECIPES.values():
            echo(f"{recipe.name:12} {recipe.task:9} {recipe.description}")
            echo(f"{'':12} {json.dumps(dict(recipe.hparams))}")
        return 0
    if args.command == "evaluate":
        from training.reevaluate import evaluate_version

        metrics = evaluate_version(args.version_dir, args.data_dir, args.models_dir)
        echo(json.dumps(metrics, indent=2))
        return 0
    if args.command == "finetune":
        return run_finetune(args)
    return run_training(args)


def run_finetune(args: argparse.Namespace) -> int:
    from training.devices import DeviceOptions, configure_devices
    from training.recipes import Recipe
    from training.run import RunOptions
    from training.tasks.classify import ClassifyTask
    from training.tasks.finetune import FINETUNE_DEFAULTS, FinetuneRequest, FinetuneTask

    if (args.images is None) == (args.dataset is None):
        raise SystemExit("finetune needs exactly one of --images DIR or --dataset NAME")
    configure_devices(DeviceOptions(seed=args.seed))
    request = FinetuneRequest(
        base=args.base,
        dataset=args.dataset,
        per_class=args.per_class,
        unfreeze=args.unfreeze,
        baselines=args.baselines,
    )
    overrides = parse_assignments(args.set, "--set")
    hparams = Recipe("finetune", "classify", "transfer", "", "", FINETUNE_DEFAULTS).resolve(
        overrides
    )
    default_name = args.images.name if args.images else f"finetune_{args.base.parent.name}"
    options = RunOptions(
        models_dir=args.models_dir,
        name=args.name or default_name,
        seed=args.seed,
        data_dir=args.data_dir,
        data_sources=tuple(args.data_source) if args.data_source else None,
        verbose=args.verbose,
        work_dir=args.work_dir,
        images=args.images,
        folder=folder_options(args),
    )
    started = time.monotonic()
    trained = FinetuneTask(request).fit(hparams, options)
    seconds = record_fit_time(trained, started)
    result = ClassifyTask().export(trained, options, chief=True)
    echo(f"\nfinetune: {result.version_dir}")
    echo(f"trained in {seconds:.0f} s")
    for key, value in result.metrics.items():
        if not isinstance(value, list):
            echo(f"  {key:40} {value}")
    return 0


def record_fit_time(trained: Any, started: float) -> float:
    """Seconds since ``started``, also written to the card's training section."""
    seconds = time.monotonic() - started
    trained.extra.setdefault("training", {})["fit_seconds"] = round(seconds)
    return seconds


def run_training(args: argparse.Namespace) -> int:
    # TensorFlow is imported only now: device set-up must precede any TF op.
    from training.devices import DeviceOptions, configure_devices, is_chief, make_strategy
    from training.run import RunOptions
    from training.tasks import get_runner

    configure_devices(
        DeviceOptions(seed=args.seed, mixed_precision=args.mixed_precision, xla=args.xla)
    )
    strategy = make_strategy(args.strategy)
    recipe = get_recipe(args.recipe)
    options = RunOptions(
        models_dir=args.models_dir,
        name=args.name,
        seed=args.seed,
        limit=args.limit,
        data_dir=args.data_dir,
        data_sources=tuple(args.data_source) if args.data_source else None,
        strategy=args.strategy,
        xla=args.xla,
        verbose=args.verbose,
        work_dir=args.work_dir,
        images=args.images,
        folder=folder_options(args),
    )
    if args.images is not None and recipe.task != "classify":
        raise SystemExit(f"--images needs an image recipe; {recipe.name} is a {recipe.task} recipe")
    if args.images is not None and args.name is None:
        options = dataclasses.replace(options, name=args.images.name)
    runner = get_runner(recipe.task)
    overrides = parse_assignments(args.set, "--set")
    started = time.monotonic()
    if args.command == "train":
        trained = runner.fit(recipe, recipe.resolve(overrides), options, strategy)
    else:
        trained = run_grid(
            runner, recipe, overrides, parse_assignments(args.param, "--param"), options, strategy
        )
    seconds = record_fit_time(trained, started)
    result = runner.export(trained, options, is_chief(strategy))
    echo(f"\n{recipe.name}: {result.version_dir or '(non-chief worker: not exported)'}")
    echo(f"trained in {seconds:.0f} s")
    for key, value in result.metrics.items():
        if not isinstance(value, list):
            echo(f"  {key:40} {value}")
    return 0


def run_grid(
    runner: Any,
    recipe: Any,
    overrides: dict[str, str],
    grid: dict[str, str],
    options: Any,
    strategy: Any,
) -> Any:
    """Fit every combination; keep the one with the lowest validation loss."""
    if recipe.task == "generate":
        raise SystemExit("grid search needs a validation loss; the GAN has none")
    keys = list(grid)
    combos = list(itertools.product(*(grid[key].split(",") for key in keys)))
    best = None
    rows: list[tuple[HParams, float, int]] = []
    for index, combo in enumerate(combos, start=1):
        hparams = recipe.resolve({**overrides, **dict(zip(keys, combo, strict=True))})
        logger.info("grid %d/%d: %s", index, len(combos), dict(zip(keys, combo, strict=True)))
        trained = runner.fit(recipe, hparams, options, strategy)
        rows.append((hparams, trained.validation_score, len(trained.history["loss"])))
        if best is None or trained.validation_score < best.validation_score:
            best = trained
    echo_grid_table(keys, rows)
    return best


def echo_grid_table(keys: list[str], rows: list[tuple[HParams, float, int]]) -> None:
    best = min(score for _, score, _ in rows)
    echo("\n" + " | ".join([*keys, "val_loss", "epochs", ""]))
    echo(" | ".join(["---"] * (len(keys) + 3)))
    for hparams, score, epochs in sorted(rows, key=lambda row: row[1]):
        mark = "best" if math.isclose(score, best) else ""
        echo(" | ".join([*(str(hparams[k]) for k in keys), f"{score:.4f}", str(epochs), mark]))
