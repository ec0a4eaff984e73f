"""Finding model versions on disk, deciding when a new one is complete, and which to serve.

Completeness rule (hot reload). A copy tool or a half-finished ``rsync`` can leave
a version directory that already has the right name but not all of its bytes;
TensorFlow Serving is known to load such versions and fail, or serve stale
variables. A version found by polling is therefore loaded only when

1. ``saved_model.pb`` and ``variables/variables.index`` exist (``model_card.json``
   and ``labels.txt`` are optional), and
2. the set of (relative path, size, mtime_ns) of every file under it is identical in
   two consecutive polls, so nothing was written in between.

At start-up every complete version counts as stable (there is no earlier poll);
one caught mid-copy simply fails to load and is retried once its files change.
Dot-prefixed directories (``.staging-*``) and non-integer names are ignored.
"""

import os
import re
from collections.abc import Iterable, Mapping, Set
from pathlib import Path

from service.runtime.settings import VersionPolicy

REQUIRED_FILES = ("saved_model.pb", "variables/variables.index")
_VERSION = re.compile(r"^[1-9][0-9]*$")

Snapshot = frozenset[tuple[str, int, int]]
VersionKey = tuple[str, int]


def scan(models_dir: Path, names: Iterable[str] | None) -> dict[VersionKey, tuple[Path, Snapshot]]:
    """Every ``<models_dir>/<name>/<version>/`` with a snapshot of its files."""
    found: dict[VersionKey, tuple[Path, Snapshot]] = {}
    wanted = None if names is None else set(names)
    for model_dir in _subdirs(models_dir):
        if wanted is not None and model_dir.name not in wanted:
            continue
        for version_dir in _subdirs(model_dir):
            if _VERSION.match(version_dir.name):
                key = (model_dir.name, int(version_dir.name))
                found[key] = (version_dir, snapshot(version_dir))
    return found


def _subdirs(path: Path) -> list[Path]:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return []
    return [
        Path(entry.path)
        for entry in entries
        if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=True)
    ]


def snapshot(version_dir: Path) -> Snapshot:
    """(relative path, size, mtime_ns) of every file; files vanishing mid-walk are skipped."""
    files = []
    for root, _, names in os.walk(version_dir):
        for name in names:
            path = Path(root, name)
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((path.relative_to(version_dir).as_posix(), stat.st_size, stat.st_mtime_ns))
    return frozenset(files)


def missing_files(files: Snapshot) -> list[str]:
    """The required files a version directory lacks (empty when it is complete)."""
    present = {path for path, _, _ in files}
    return [required for required in REQUIRED_FILES if required not in present]


def is_complete(files: Snapshot) -> bool:
    return not missing_files(files)


class StabilityTracker:
    """Remembers the previous poll's snapshots to tell settled versions from copies in progress."""

    def __init__(self) -> None:
        self._previous: dict[VersionKey, Snapshot] = {}

    def observe(self, current: Mapping[VersionKey, Snapshot]) -> set[VersionKey]:
        """Record this poll; return the versions whose files are unchanged since the last one.

        Settled and complete means loadable; settled and incomplete means refused.
        """
        settled = {key for key, files in current.items() if self._previous.get(key) == files}
        self._previous = dict(current)
        return settled


def select_versions(
    policy: VersionPolicy, pinned: tuple[int, ...] | None, candidates: set[int]
) -> set[int]:
    """Which of ``candidates`` (loadable or loaded) should be served."""
    if policy == "all":
        return set(candidates)
    if policy == "specific" and pinned is not None:
        return candidates & set(pinned)
    return {max(candidates)} if candidates else set()


def wanted_versions(
    candidates: Set[VersionKey], policy: VersionPolicy, pins: Mapping[str, Iterable[int]]
) -> set[VersionKey]:
    """Apply the policy per model to ``candidates`` (versions loaded or loadable now)."""
    by_name: dict[str, set[int]] = {}
    for name, version in candidates:
        by_name.setdefault(name, set()).add(version)
    return {
        (name, version)
        for name, versions in by_name.items()
        for version in select_versions(policy, _pins(pins, name), versions)
    }


def _pins(pins: Mapping[str, Iterable[int]], name: str) -> tuple[int, ...] | None:
    pinned = pins.get(name)
    return None if pinned is None else tuple(pinned)
