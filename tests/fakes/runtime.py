"""Fakes that isolate the batcher and handle from TensorFlow."""

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.runtime.settings import RuntimeSettings


def fast_settings(**overrides: Any) -> RuntimeSettings:
    values: dict[str, Any] = {
        "models_dir": Path("unused"),
        "max_batch_size": 8,
        "batch_sizes": (1, 2, 4, 8),
        "max_queue_delay_s": 0.002,
        "poll_interval_s": 0,
        "idle_inline_max_s": 0.0,  # every batch in the executor, unless a test says so
        "inline_batch_max_s": 0.0,
    }
    values.update(overrides)
    return RuntimeSettings(**values)


@dataclass
class FakeModel:
    """Doubles ``x`` and sums its rows; records each batch; can be held at a gate."""

    batches: list[NDArray[Any]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    entered: threading.Event = field(default_factory=threading.Event)
    fail_when: float | None = None  # raise when a batch contains this value
    short_by: int = 0  # return this many rows too few

    def __post_init__(self) -> None:
        self.gate.set()

    def __call__(self, inputs: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        x = np.array(inputs["x"])
        self.batches.append(x)
        self.entered.set()
        self.gate.wait(10)
        if self.fail_when is not None and (x == self.fail_when).any():
            raise ValueError("boom")
        rows = x.shape[0] - self.short_by
        return {"double": x[:rows] * 2, "total": x[:rows].sum(axis=1)}

    @property
    def sizes(self) -> list[int]:
        return [batch.shape[0] for batch in self.batches]


@dataclass
class RecordingObserver:
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def model_loaded(self, name: str, version: int, device: str, seconds: float) -> None:
        self.events.append(("loaded", name, version, device))

    def model_unloaded(self, name: str, version: int) -> None:
        self.events.append(("unloaded", name, version))

    def model_load_failed(self, name: str, version: int, reason: str) -> None:
        self.events.append(("failed", name, version, reason))

    def queue_depth(self, name: str, version: int, depth: int) -> None:
        self.events.append(("depth", depth))

    def queue_wait(self, name: str, version: int, seconds: float) -> None:
        self.events.append(("wait", seconds))

    def batch_ran(self, name: str, version: int, size: int, padded: int, seconds: float) -> None:
        self.events.append(("batch", size, padded))

    def rejected(self, name: str, version: int, reason: str) -> None:
        self.events.append(("rejected", reason))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [event for event in self.events if event[0] == kind]


def rows(*values: float, width: int = 3) -> dict[str, NDArray[np.float32]]:
    """One row per value, every column equal to it: easy to trace through a batch."""
    return {"x": np.repeat(np.array(values, np.float32)[:, None], width, axis=1)}
