"""`models/<name>/versions.json`: a model's version labels, traffic split and shadow.

::

    {"version_labels": {"stable": 1, "canary": 2},
     "traffic":        {"stable": 90, "canary": 10},
     "shadow":         {"version_label": "canary", "percent": 20, "tolerance": 0.01}}

Every key is optional; `{}` is today's behaviour. `traffic` maps a label or a version
(as a string, `"2"`) to a non-negative weight, at least one of them positive. `shadow`
names one label or one version, the share of requests copied to it (0-100) and the
relative tolerance for values (default 1%). Anything else, or anything malformed,
refuses the whole file (`VersionsFileError`); which versions exist is checked by the
repository against the disk (`check_versions`).
"""

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

FILE_NAME = "versions.json"
MAX_BYTES = 64 * 1024
DEFAULT_TOLERANCE = 0.01
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VERSION = re.compile(r"^[1-9][0-9]*$")
_TOP_KEYS = frozenset({"version_labels", "traffic", "shadow"})
_SHADOW_KEYS = frozenset({"version_label", "version", "percent", "tolerance"})

Target = str | int  # a label name or a version number


class VersionsFileError(Exception):
    """Why a versions.json is refused (the previous configuration stays in force)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ShadowSpec:
    target: Target
    percent: float
    tolerance: float = DEFAULT_TOLERANCE


@dataclass(frozen=True)
class VersionsFile:
    """A versions.json that parsed; `traffic` is empty when the file sets none."""

    labels: Mapping[str, int]
    traffic: Mapping[Target, float]
    shadow: ShadowSpec | None

    def version_of(self, target: Target) -> int:
        return self.labels[target] if isinstance(target, str) else target

    def named_versions(self) -> set[int]:
        """Every version the file names, through a label or directly."""
        targets: list[Target] = [*self.labels.values(), *self.traffic]
        if self.shadow is not None:
            targets.append(self.shadow.target)
        return {self.version_of(target) for target in targets}


def read_versions_files(models_dir: Path, names: Iterable[str] | None) -> dict[str, bytes]:
    """The versions.json of every model directory that has one (an unreadable one as b"")."""
    wanted = None if names is None else set(names)
    found: dict[str, bytes] = {}
    try:
        entries = list(os.scandir(models_dir))
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith(".") or (wanted is not None and entry.name not in wanted):
            continue
        path = Path(entry.path, FILE_NAME)
        try:
            with path.open("rb") as file:
                found[entry.name] = file.read(MAX_BYTES + 1)
        except FileNotFoundError:
            continue
        except OSError:
            found[entry.name] = b""
    return found


def parse_versions_file(raw: bytes) -> VersionsFile:
    """The file's configuration, or `VersionsFileError` naming the first problem."""
    if len(raw) > MAX_BYTES:
        raise VersionsFileError(f"{FILE_NAME} is over {MAX_BYTES} bytes")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise VersionsFileError(f"{FILE_NAME} is not valid JSON: {exc}") from exc
    section = _object(document, FILE_NAME)
    _known_keys(section, _TOP_KEYS, FILE_NAME)
    labels = _labels(section.get("version_labels", {}))
    traffic = _traffic(section.get("traffic", {}), labels, "traffic" in section)
    shadow = _shadow(section["shadow"], labels) if "shadow" in section else None
    return VersionsFile(labels, traffic, shadow)


def check_versions(config: VersionsFile, state_of: Callable[[int], str | None]) -> None:
    """Refuse a file naming a version that is not on disk (None) or has FAILED."""
    for version in sorted(config.named_versions()):
        state = state_of(version)
        if state is None:
            raise VersionsFileError(f"version {version} is named but not on disk")
        if state == "FAILED":
            raise VersionsFileError(f"version {version} is named but FAILED to load")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VersionsFileError(f"{where} must be a JSON object")
    return value


def _known_keys(section: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise VersionsFileError(f"unknown key {unknown[0]!r} in {where} (known: {sorted(known)})")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise VersionsFileError(f"{where} must be a number, not {value!r}")
    return float(value)


def _version(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise VersionsFileError(f"{where} must be a positive version number, not {value!r}")
    return value


def _labels(value: Any) -> dict[str, int]:
    labels = {}
    for name, version in _object(value, "version_labels").items():
        if not LABEL_NAME.match(name):
            raise VersionsFileError(f"label {name!r} is not a name ([A-Za-z_][A-Za-z0-9_]*)")
        labels[name] = _version(version, f"version_labels[{name!r}]")
    return labels


def _target(key: str, labels: Mapping[str, int], where: str) -> Target:
    if _VERSION.match(key):
        return int(key)
    if key not in labels:
        raise VersionsFileError(f"{where} names {key!r}, which is neither a label nor a version")
    return key


def _traffic(value: Any, labels: Mapping[str, int], given: bool) -> dict[Target, float]:
    weights: dict[Target, float] = {}
    for key, weight in _object(value, "traffic").items():
        number = _number(weight, f"traffic[{key!r}]")
        if number < 0:
            raise VersionsFileError(f"traffic[{key!r}] is negative ({weight})")
        weights[_target(key, labels, "traffic")] = number
    if given and not any(weights.values()):
        raise VersionsFileError("traffic gives every version weight 0")
    return weights


def _shadow(value: Any, labels: Mapping[str, int]) -> ShadowSpec:
    section = _object(value, "shadow")
    _known_keys(section, _SHADOW_KEYS, "shadow")
    if ("version_label" in section) == ("version" in section):
        raise VersionsFileError("shadow names exactly one of version_label and version")
    if "version" in section:
        target: Target = _version(section["version"], "shadow.version")
    else:
        label = section["version_label"]
        if not isinstance(label, str) or label not in labels:
            raise VersionsFileError(f"shadow.version_label {label!r} is not a label of the file")
        target = label
    percent = _number(section.get("percent", 100), "shadow.percent")
    if not 0 <= percent <= 100:
        raise VersionsFileError(f"shadow.percent must be within 0-100, not {percent:g}")
    tolerance = _number(section.get("tolerance", DEFAULT_TOLERANCE), "shadow.tolerance")
    if tolerance < 0:
        raise VersionsFileError(f"shadow.tolerance must not be negative ({tolerance:g})")
    return ShadowSpec(target, percent, tolerance)
