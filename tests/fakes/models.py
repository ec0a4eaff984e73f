"""Fake models and repository with the runtime's interface, for HTTP unit tests."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.card import ModelCard, parse_card
from service.runtime.encoded import Inputs, materialized
from service.runtime.errors import (
    InvalidInputError,
    ModelNotFoundError,
    ModelNotReadyError,
    VersionNotFoundError,
)
from service.runtime.rollout import ModelRollout
from service.runtime.spec import ModelSpec, resolve_spec, with_scores
from service.runtime.tensors import TensorInfo

Outputs = dict[str, np.ndarray]

MNIST_IMAGE = {
    "size": [28, 28],
    "color": "gray",
    "resize": "mnist",
    "interpolation": "lanczos",
    "scale": "unit",
    "polarity": "auto",
}


@dataclass(frozen=True)
class Spec:
    dtype: str
    shape: tuple[int | None, ...]


@dataclass
class FakeModel:
    name: str
    version: int
    task: str
    inputs: dict[str, Spec]
    outputs: dict[str, Spec]
    run: Callable[[Mapping[str, np.ndarray]], Outputs]
    written_card: dict[str, Any] = field(default_factory=dict)  # as model_card.json says
    device: str = "/CPU:0"
    error: Exception | None = None
    calls: list[Mapping[str, np.ndarray]] = field(default_factory=list)
    off_loop_calls: list[bool] = field(default_factory=list)  # each call's off_loop

    @property
    def card(self) -> ModelCard:
        return self.spec.card

    @property
    def spec(self) -> ModelSpec:
        """Resolved from the fake's card and tensors by the real resolver."""
        card = parse_card(self.written_card)
        spec = resolve_spec(
            card,
            "serving_default",
            {name: TensorInfo(s.dtype, s.shape) for name, s in self.inputs.items()},
            {name: TensorInfo(s.dtype, s.shape) for name, s in self.outputs.items()},
        )
        return with_scores(spec, "probabilities")

    async def infer(
        self,
        inputs: Inputs,
        *,
        timeout_s: float | None = None,
        trusted: bool = False,
        off_loop: bool = False,
        in_company: bool = False,
    ):
        inputs = materialized(inputs)  # encoded images prepared, as a batch would
        self.calls.append(inputs)
        self.off_loop_calls.append(off_loop)
        if self.error is not None:
            raise self.error
        for name, value in inputs.items():
            if name not in self.inputs:
                raise InvalidInputError(f"unknown input {name!r}")
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise InvalidInputError("values must be finite")
        return self.run(inputs)


@dataclass(frozen=True)
class FakeStatus:
    name: str
    version: int
    state: str
    device: str | None
    error: str | None
    load_seconds: float | None
    card: ModelCard | None
    runtime: str | None = "tensorflow"
    runtime_note: str | None = None


class FakeRepository:
    def __init__(self, *models: FakeModel, ready: bool = True) -> None:
        self.models = list(models)
        self.ready = ready
        self.live = True
        self.started = False
        self.stopped_with: float | None = None
        self.failed: list[FakeStatus] = []
        self.rollout_of: dict[str, ModelRollout] = {}

    def rollout(self, name: str) -> ModelRollout | None:
        return self.rollout_of.get(name)

    def rollouts(self) -> dict[str, dict[str, Any]]:
        return {name: rollout.status() for name, rollout in sorted(self.rollout_of.items())}

    async def start(self) -> None:
        self.started = True

    async def stop(self, drain_timeout_s: float) -> None:
        self.stopped_with = drain_timeout_s

    def get(self, name: str, version: int | None = None) -> FakeModel:
        versions = [m for m in self.models if m.name == name]
        if not versions:
            if any(s.name == name for s in self.failed):
                raise ModelNotReadyError(name, "failed")
            raise ModelNotFoundError(name)
        if version is None:
            return max(versions, key=lambda m: m.version)
        for model in versions:
            if model.version == version:
                return model
        raise VersionNotFoundError(name, version)

    def statuses(self, name: str | None = None) -> list[FakeStatus]:
        found = [
            FakeStatus(m.name, m.version, "AVAILABLE", m.device, None, 0.5, m.card)
            for m in self.models
        ] + self.failed
        return [s for s in found if name is None or s.name == name]

    def names(self) -> list[str]:
        return sorted({m.name for m in self.models})

    def device_info(self) -> dict[str, Any]:
        return {"device": "/CPU:0"}


LABELS = [f"class{i}" for i in range(10)]


def _classify(inputs: Mapping[str, np.ndarray]) -> Outputs:
    images = inputs["images"]
    rows = images.shape[0]
    # Class = mean brightness bucket, so tests can predict the winner.
    winners = np.clip((images.reshape(rows, -1).mean(axis=1) * 10).astype(int), 0, 9)
    probabilities = np.full((rows, 10), 0.01, np.float32)
    probabilities[np.arange(rows), winners] = 0.91
    return {
        "probabilities": probabilities,
        "logits": np.log(probabilities),
        "features": np.zeros((rows, 4), np.float32),
    }


def fake_classifier(name: str = "clf", version: int = 1) -> FakeModel:
    return FakeModel(
        name,
        version,
        "classify",
        {"images": Spec("float32", (None, 28, 28, 1))},
        {
            "probabilities": Spec("float32", (None, 10)),
            "logits": Spec("float32", (None, 10)),
            "features": Spec("float32", (None, 4)),
        },
        _classify,
        written_card={"name": name, "task": "classify", "labels": LABELS, "image": MNIST_IMAGE},
    )


def _forecast(inputs: Mapping[str, np.ndarray]) -> Outputs:
    series = inputs["series"]
    return {"forecast": np.repeat(series[:, -1:] + 1.0, 3, axis=1).astype(np.float32)}


def fake_forecaster(name: str = "fc", version: int = 1) -> FakeModel:
    return FakeModel(
        name,
        version,
        "forecast",
        {"series": Spec("float32", (None, 4))},
        {"forecast": Spec("float32", (None, 3))},
        _forecast,
        written_card={"name": name, "task": "forecast", "task_params": {"window": 4, "horizon": 3}},
    )


def _generate(inputs: Mapping[str, np.ndarray]) -> Outputs:
    noise = inputs["noise"]
    level = (np.tanh(noise.mean(axis=1)) + 1) / 2
    images = np.broadcast_to(level[:, None, None, None], (noise.shape[0], 28, 28, 1))
    return {"images": images.astype(np.float32)}


def fake_generator(name: str = "gen", version: int = 1) -> FakeModel:
    return FakeModel(
        name,
        version,
        "generate",
        {"noise": Spec("float32", (None, 8)), "labels": Spec("int32", (None,))},
        {"images": Spec("float32", (None, 28, 28, 1))},
        _generate,
        written_card={
            "name": name,
            "task": "generate",
            "labels": [str(d) for d in range(10)],
            "task_params": {"latent_dim": 8, "num_classes": 10},
        },
    )
