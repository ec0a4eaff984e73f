"""Generation: seeded images from a conditional generator, for any model bound as one.

The noise (and, when no label is given, the labels) come from `numpy.random` seeded
with `seed`, so the same seed and model version always give the same images; without
a seed one is drawn and returned for replay.
"""

import secrets
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.errors import TaskRequestError, WrongTaskError
from service.ports import Model
from service.runtime.bindings import GenerateBinding
from service.tasks.png_encoding import to_uint8

MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Generation:
    pixels: NDArray[np.uint8]  # [N, H, W, C]
    labels: NDArray[np.int32]  # [N]
    seed: int


def binding_of(model: Model) -> GenerateBinding:
    binding = model.spec.generate
    if binding is None:
        raise WrongTaskError(f"model {model.name!r} is a {model.task} model, not a generator")
    return binding


def draw_inputs(
    seed: int, count: int, latent_dim: int, num_classes: int, label: int | None
) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
    """Seeded standard-normal noise and labels (all `label`, or random from the seed)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, latent_dim), dtype=np.float32)
    if label is None:
        labels = rng.integers(0, num_classes, size=count).astype(np.int32)
    else:
        labels = np.full(count, label, dtype=np.int32)
    return noise, labels


async def generate(
    model: Model, count: int, *, label: int | None, seed: int | None, max_count: int
) -> Generation:
    """``count`` images of class ``label`` (random classes when None)."""
    if count > max_count:
        raise TaskRequestError(f"n must be at most {max_count}")
    binding = binding_of(model)
    if label is not None and not 0 <= label < binding.num_classes:
        raise TaskRequestError(
            f"label must be in [0, {binding.num_classes - 1}] for {model.name!r}"
        )
    seed = secrets.randbits(32) if seed is None else seed
    noise, labels = draw_inputs(seed, count, binding.latent_dim, binding.num_classes, label)
    outputs = await model.infer({binding.noise: noise, binding.labels: labels})
    return Generation(to_uint8(np.asarray(outputs[binding.output])), labels, seed)
