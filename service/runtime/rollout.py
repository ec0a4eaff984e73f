"""A model's rollout as in force: its labels, traffic split and shadow (versions.json).

Each reload pass re-reads every model's versions.json (`Rollouts.stage`), loads the
versions the files name whatever the version policy says (`Rollouts.wanted`), and,
once the pass has loaded what it could, accepts or refuses each file whole
(`Rollouts.commit`): a refused file leaves the previous configuration in force, and
its reason is logged once, reported by the observer and listed at `/v1/models`.

What a request reaches is a `RouteTable`, rebuilt whenever the configuration or the
set of AVAILABLE versions changes, so choosing costs a dict look-up or a bisection.
A label resolves only to an AVAILABLE version: while the version it names loads, the
label keeps its previous target if that still serves, and is pending otherwise. A
version that is not AVAILABLE gets no traffic; its share goes to the others.

Requests without a route key draw their version once per `DRAW_WINDOW_S` (5 ms): the
requests of one window (dozens under load, one or two for a lone client) go to the
same version, so each version's batches stay as full as without a split and one
version's inference thread runs at a time. Drawn per request, 50/50 halved the batches
and cost 17% of the rate at 64 clients; drawn per turn of the event loop, 5%. Each
window's draw is weighted and independent of how many requests share it, so the
shares hold over many windows (a second holds two hundred under load).
"""

import bisect
import hashlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from service.runtime.errors import VersionLabelNotFoundError, VersionLabelPendingError
from service.runtime.observer import RolloutObserver
from service.runtime.shadow import ShadowRecord, ShadowRunner
from service.runtime.versions_file import (
    FILE_NAME,
    Target,
    VersionsFile,
    VersionsFileError,
    check_versions,
    parse_versions_file,
)

logger = logging.getLogger(__name__)

VersionKey = tuple[str, int]
DRAW_WINDOW_S = 0.005  # keyless requests share a draw this long


@dataclass(frozen=True)
class RouteTable:
    """Where requests go now: labels' AVAILABLE targets (None = pending), the split's
    versions with cumulative weights, and the shadow version."""

    labels: Mapping[str, int | None] = field(default_factory=dict)
    configured: Mapping[str, int] = field(default_factory=dict)
    versions: tuple[int, ...] = ()
    cumulative: tuple[float, ...] = ()
    shadow: int | None = None
    shadow_percent: float = 0.0
    tolerance: float = 0.0


def _available_target(
    target: Target, labels: Mapping[str, int | None], available: Set[int]
) -> int | None:
    if isinstance(target, str):
        return labels.get(target)
    return target if target in available else None


def build_table(
    config: VersionsFile | None, available: Set[int], previous: Mapping[str, int | None]
) -> RouteTable:
    """The table for ``config`` given the AVAILABLE versions and the labels' old targets."""
    if config is None:
        return RouteTable()
    labels: dict[str, int | None] = {}
    for label, version in config.labels.items():
        old = previous.get(label)  # keeps serving while the new target loads
        fallback = old if old is not None and old in available else None
        labels[label] = version if version in available else fallback
    weights: dict[int, float] = {}
    for target, weight in config.traffic.items():
        chosen = _available_target(target, labels, available)
        if chosen is not None and weight > 0:
            weights[chosen] = weights.get(chosen, 0.0) + weight
    versions = tuple(sorted(weights))
    shadow = config.shadow
    return RouteTable(
        labels,
        dict(config.labels),
        versions,
        tuple(itertools.accumulate(weights[version] for version in versions)),
        None if shadow is None else _available_target(shadow.target, labels, available),
        0.0 if shadow is None else shadow.percent,
        0.0 if shadow is None else shadow.tolerance,
    )


def key_point(route_key: str) -> float:
    """Where a route key falls in [0, 1): the same key, the same point, in every process."""
    digest = hashlib.blake2b(route_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


def _version_at(table: RouteTable, point: float) -> int:
    """The split's version at ``point`` in [0, 1)."""
    index = bisect.bisect_right(table.cumulative, point * table.cumulative[-1])
    return table.versions[min(index, len(table.versions) - 1)]


class ModelRollout:
    """One model's versions.json: the configuration in force, the refusal, the shadow record."""

    def __init__(self, name: str, runner: ShadowRunner, observer: RolloutObserver) -> None:
        self.name = name
        self.runner = runner
        self.config: VersionsFile | None = None
        self.refused: str | None = None
        self.table = RouteTable()
        self.shadows = ShadowRecord()
        # The task layer's per-pair wrappers, keyed by (primary, shadow) version: made once
        # per table, since every version change or new file rebuilds the table.
        self.pairs: dict[tuple[int, int], object] = {}
        self._observer = observer
        self._logged: tuple[bytes, str] | None = None
        self._parsed: tuple[bytes, VersionsFile] | None = None
        self._drawn: tuple[RouteTable, int, float] | None = None  # the draw, and until when
        self.clock: Callable[[], float] = time.monotonic

    def label_version(self, label: str) -> int:
        """The AVAILABLE version ``label`` reaches now; unknown (404) or pending (503)."""
        table = self.table
        if label not in table.labels:
            raise VersionLabelNotFoundError(self.name, label)
        version = table.labels[label]
        if version is None:
            raise VersionLabelPendingError(self.name, label, table.configured[label])
        return version

    def pick(self, route_key: str | None) -> int | None:
        """The split's choice (sticky for a route key); None without a split."""
        table = self.table
        if not table.versions:
            return None
        if route_key is not None:
            return _version_at(table, key_point(route_key))
        now, drawn = self.clock(), self._drawn
        if drawn is not None and drawn[0] is table and now < drawn[2]:
            return drawn[1]
        version = _version_at(table, random.random())
        self._drawn = (table, version, now + DRAW_WINDOW_S)
        return version

    def shadow_version(self, primary: int) -> int | None:
        """The version this request is also sent to, when it is sampled; else None."""
        table = self.table
        if table.shadow is None or table.shadow == primary:
            return None
        if table.shadow_percent < 100 and random.random() * 100 >= table.shadow_percent:
            return None
        return table.shadow

    def needed(self) -> set[int]:
        """Versions to keep loaded: every one the file names and every label's target."""
        named = self.config.named_versions() if self.config is not None else set()
        return named | {version for version in self.table.labels.values() if version is not None}

    def parse(self, raw: bytes) -> VersionsFile:
        if self._parsed is not None and self._parsed[0] == raw:
            return self._parsed[1]
        config = parse_versions_file(raw)
        self._parsed = (raw, config)
        return config

    def refuse(self, raw: bytes, reason: str) -> None:
        self.refused = reason
        if self._logged != (raw, reason):
            self._logged = (raw, reason)
            logger.error("refusing %s of %s: %s", FILE_NAME, self.name, reason)
            self._observer.versions_file_refused(self.name, reason)

    def accept(self, config: VersionsFile) -> None:
        if self.refused is not None:
            self._observer.versions_file_refused(self.name, None)
        self.refused, self._logged = None, None
        if config != self.config:
            logger.info("%s of %s in force: %s", FILE_NAME, self.name, config)
        self.config = config

    def refresh(self, available: Set[int]) -> None:
        self.table = build_table(self.config, available, self.table.labels)
        self.pairs = {}

    def status(self) -> dict[str, Any]:
        """What /v1/models shows: the file's state, labels, the split, shadow agreement."""
        table, config = self.table, self.config
        total = table.cumulative[-1] if table.cumulative else 0.0
        weights = [b - a for a, b in zip((0.0, *table.cumulative), table.cumulative, strict=False)]
        return {
            "file": "refused" if self.refused else "in force",
            "error": self.refused,
            "version_labels": dict(table.configured),
            "labels": dict(table.labels),
            "pending": sorted(label for label, version in table.labels.items() if version is None),
            "traffic": {str(k): w for k, w in config.traffic.items()} if config else {},
            "split": {
                str(version): round(100 * weight / total, 3)
                for version, weight in zip(table.versions, weights, strict=True)
            },
            "shadow": None
            if config is None or config.shadow is None
            else {
                "target": config.shadow.target,
                "version": table.shadow,
                "percent": config.shadow.percent,
                "tolerance": config.shadow.tolerance,
            },
            "agreement": self.shadows.agreement(),
            "shed": self.shadows.shed,
        }


class Rollouts:
    """Every model's `ModelRollout`, kept in step with the files by the reload pass."""

    def __init__(self, runner: ShadowRunner, observer: RolloutObserver) -> None:
        self.runner = runner
        self._observer = observer
        self._models: dict[str, ModelRollout] = {}
        self._staged: dict[str, tuple[bytes, VersionsFile]] = {}

    def get(self, name: str) -> ModelRollout | None:
        return self._models.get(name)

    def stage(self, files: Mapping[str, bytes]) -> None:
        """Parse every file read this pass; one that does not parse is refused now, and a
        model whose file is gone is back to today's behaviour."""
        self._staged = {}
        for name in sorted(self._models.keys() - files.keys()):
            logger.info("%s of %s removed: newest version, no labels", FILE_NAME, name)
            if self._models.pop(name).refused is not None:
                self._observer.versions_file_refused(name, None)
        for name, raw in sorted(files.items()):
            rollout = self._models.get(name)
            if rollout is None:
                rollout = self._models[name] = ModelRollout(name, self.runner, self._observer)
            try:
                self._staged[name] = (raw, rollout.parse(raw))
            except VersionsFileError as exc:
                rollout.refuse(raw, exc.reason)

    def wanted(self) -> set[VersionKey]:
        """Versions to load and keep: named by a file in force or staged, or serving a label."""
        keys = {(name, v) for name, rollout in self._models.items() for v in rollout.needed()}
        staged = self._staged.items()
        return keys | {(name, v) for name, (_, config) in staged for v in config.named_versions()}

    def commit(
        self,
        state_of: Callable[[str, int], str | None],
        available: Callable[[str], Set[int]],
    ) -> None:
        """Accept each staged file whose versions are on disk and not FAILED; refuse the rest."""
        for name, (raw, config) in self._staged.items():
            rollout = self._models[name]
            try:
                check_versions(config, partial(state_of, name))
            except VersionsFileError as exc:
                rollout.refuse(raw, exc.reason)
            else:
                rollout.accept(config)
            rollout.refresh(available(name))
        self._staged = {}

    def refresh(self, name: str, available: Set[int]) -> None:
        rollout = self._models.get(name)
        if rollout is not None:
            rollout.refresh(available)

    def statuses(self) -> dict[str, dict[str, Any]]:
        return {name: rollout.status() for name, rollout in sorted(self._models.items())}
