"""A real `ModelRollout` installed on a `FakeRepository`, for resolver and route tests."""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from service.runtime.observer import ShadowOutcome
from service.runtime.rollout import ModelRollout
from service.runtime.shadow import ShadowRunner
from service.runtime.versions_file import parse_versions_file
from tests.fakes.models import FakeRepository


@dataclass
class RecordingRolloutObserver:
    refusals: list[tuple[str, str | None]] = field(default_factory=list)
    compared: list[tuple[str, int, int, str, int]] = field(default_factory=list)
    ran: list[tuple[str, int, float]] = field(default_factory=list)
    shed: list[str] = field(default_factory=list)

    def versions_file_refused(self, name: str, reason: str | None) -> None:
        self.refusals.append((name, reason))

    def shadow_compared(
        self, name: str, primary: int, shadow: int, outcome: ShadowOutcome, rows: int
    ) -> None:
        self.compared.append((name, primary, shadow, outcome, rows))

    def shadow_ran(self, name: str, version: int, seconds: float) -> None:
        self.ran.append((name, version, seconds))

    def shadow_shed(self, name: str) -> None:
        self.shed.append(name)

    def rows(self, outcome: str) -> int:
        return sum(rows for *_, seen, rows in self.compared if seen == outcome)


def install_rollout(
    repo: FakeRepository,
    name: str,
    document: dict[str, Any],
    available: Iterable[int] | None = None,
    *,
    limit: int = 64,
    observer: RecordingRolloutObserver | None = None,
) -> ModelRollout:
    """``document`` in force for ``name``; ``available`` defaults to the fake's versions."""
    heard = observer or RecordingRolloutObserver()
    rollout = ModelRollout(name, ShadowRunner(limit, heard), heard)
    rollout.accept(parse_versions_file(json.dumps(document).encode()))
    versions = available if available is not None else [m.version for m in repo.models]
    rollout.refresh(set(versions))
    repo.rollout_of[name] = rollout
    return rollout
