"""On-disk cache of converted dataset arrays, verified by checksum on every load.

Each entry is ``<stem>.npz`` (the arrays) plus ``<stem>.json`` (where they came
from and the sha256 of their contents). Converting the npm JSON takes seconds
and fetching needs the network; the cache makes every load after the first one
offline and fast.
"""

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

CACHE_ENV_VAR = "KERASSERVE_CACHE"
_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class CacheEntry:
    """Arrays read back from the cache together with their sidecar metadata."""

    arrays: dict[str, NDArray[np.uint8]]
    metadata: dict[str, Any]
    checksum: str


def default_cache_dir() -> Path:
    """``$KERASSERVE_CACHE`` if set, else ``~/.cache/kerasserve``."""
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "kerasserve"


def dataset_cache_dir(cache_dir: Path | None = None) -> Path:
    """Where dataset entries live: ``datasets/`` under the cache root."""
    return (cache_dir if cache_dir is not None else default_cache_dir()) / "datasets"


def arrays_checksum(arrays: Mapping[str, NDArray[Any]]) -> str:
    """sha256 over names, dtypes, shapes and bytes, so it ignores zip timestamps."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_arrays(
    directory: Path,
    stem: str,
    arrays: Mapping[str, NDArray[np.uint8]],
    metadata: Mapping[str, Any],
) -> str:
    """Write an entry atomically and return its checksum."""
    directory.mkdir(parents=True, exist_ok=True)
    checksum = arrays_checksum(arrays)
    # Data first, sidecar last: a sidecar only ever describes finished data.
    data_tmp = directory / f".{stem}.{os.getpid()}.npz"
    with data_tmp.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
    data_tmp.replace(directory / f"{stem}.npz")
    sidecar = {**metadata, "checksum": checksum, "format": _FORMAT_VERSION}
    meta_tmp = directory / f".{stem}.{os.getpid()}.json"
    meta_tmp.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    meta_tmp.replace(directory / f"{stem}.json")
    logger.info("cached %s in %s (sha256 %s)", stem, directory, checksum[:12])
    return checksum


def load_arrays(directory: Path, stem: str) -> CacheEntry | None:
    """Read an entry; ``None`` when absent, and a corrupt one is deleted with a warning."""
    data_path = directory / f"{stem}.npz"
    meta_path = directory / f"{stem}.json"
    if not data_path.is_file() or not meta_path.is_file():
        return None
    try:
        entry = _read_entry(data_path, meta_path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("discarding corrupt dataset cache %s: %s", data_path, exc)
        discard(directory, stem)
        return None
    return entry


def discard(directory: Path, stem: str) -> None:
    """Delete an entry so the next load fetches it again."""
    for suffix in (".npz", ".json"):
        (directory / f"{stem}{suffix}").unlink(missing_ok=True)


def _read_entry(data_path: Path, meta_path: Path) -> CacheEntry:
    metadata = json.loads(meta_path.read_text())
    if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT_VERSION:
        raise ValueError("unknown sidecar format")
    with np.load(data_path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    for key, array in arrays.items():
        if array.dtype != np.uint8:
            raise ValueError(f"array {key!r} has dtype {array.dtype}, expected uint8")
    checksum = arrays_checksum(arrays)
    if checksum != metadata["checksum"]:
        raise ValueError(f"sha256 {checksum[:12]} does not match {metadata['checksum'][:12]}")
    return CacheEntry(arrays=arrays, metadata=metadata, checksum=checksum)
