"""Lifecycle of one model version, as reported by ``ModelRepository.statuses()``.

``LOADING`` -> ``AVAILABLE`` -> ``UNLOADING`` -> ``END``, or ``LOADING`` -> ``FAILED``
(the TensorFlow Serving names). A FAILED version is retried only when its files change.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from service.card import CardError, ModelCard, read_card
from service.runtime.discovery import Snapshot
from service.runtime.handle import ModelHandle

VersionState = Literal["LOADING", "AVAILABLE", "UNLOADING", "END", "FAILED"]


@dataclass(frozen=True)
class VersionStatus:
    name: str
    version: int
    state: VersionState
    device: str
    error: str | None
    load_seconds: float | None
    card: ModelCard | None
    runtime: str | None = None
    runtime_note: str | None = None


@dataclass
class VersionEntry:
    """The repository's mutable record of one version (internal)."""

    name: str
    version: int
    path: Path
    files: Snapshot  # what was on disk when loading was attempted
    device: str
    state: VersionState = "LOADING"
    error: str | None = None
    load_seconds: float | None = None
    card: ModelCard | None = None
    handle: ModelHandle | None = None
    runtime: str | None = None  # what runs the graph once loaded: tensorflow, litert or xla
    runtime_note: str | None = None

    def status(self) -> VersionStatus:
        return VersionStatus(
            self.name,
            self.version,
            self.state,
            self.device,
            self.error,
            self.load_seconds,
            self.card,
            self.runtime,
            self.runtime_note,
        )


def not_ready_detail(entries: Iterable[VersionEntry]) -> str:
    """Why no version of a model is AVAILABLE, for the error message."""
    return "; ".join(
        f"version {entry.version} is {entry.state}" + (f" ({entry.error})" if entry.error else "")
        for entry in sorted(entries, key=lambda entry: entry.version)
    )


def card_or_none(version_dir: Path) -> ModelCard | None:
    """A version's card as written, for listing a version that is not loaded."""
    try:
        return read_card(version_dir)
    except CardError:
        return None
