"""``ModelRepository``: which model versions are served, and swapping them without errors.

A reload pass (at start, then every ``poll_interval_s``) scans the models
directory, applies the completeness rule of :mod:`service.runtime.discovery` and
the version policy, loads what is missing (in a worker thread, warm-up included)
and only then retires what is no longer wanted. A retired version stops being the
default at once, keeps serving callers that already hold it for a short grace,
and is unloaded once every call inside it has been answered.
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from service.card import ModelCard
from service.runtime.devices import configure_threads, device_info, resolve_device
from service.runtime.discovery import (
    Snapshot,
    StabilityTracker,
    VersionKey,
    missing_files,
    scan,
    wanted_versions,
)
from service.runtime.errors import (
    ModelNotFoundError,
    ModelNotReadyError,
    ServiceStoppingError,
    VersionNotFoundError,
)
from service.runtime.handle import ModelHandle, drain_all, open_handle
from service.runtime.loader import LoadedModel, LoadError, load_version
from service.runtime.observer import (
    NullObserver,
    NullRolloutObserver,
    RolloutObserver,
    RuntimeObserver,
)
from service.runtime.rollout import ModelRollout, Rollouts
from service.runtime.settings import RuntimeSettings
from service.runtime.shadow import ShadowRunner
from service.runtime.status import VersionEntry, VersionStatus, card_or_none, not_ready_detail
from service.runtime.versions_file import read_versions_files

logger = logging.getLogger(__name__)

Found = dict[VersionKey, tuple[Path, Snapshot]]


class ModelRepository:
    """Loads, serves, hot-reloads and unloads model versions under ``settings.models_dir``.

    ``retire_grace_s`` is how long a superseded version still accepts calls from
    callers that fetched it just before the swap. Each model's versions.json (labels,
    traffic, shadow: `service.runtime.rollout`) is read by the same pass; an observer
    that is also a `RolloutObserver` hears about refused files and shadow calls.
    """

    def __init__(
        self,
        settings: RuntimeSettings,
        observer: RuntimeObserver | None = None,
        *,
        retire_grace_s: float = 1.0,
    ) -> None:
        self._settings = settings
        self._observer = observer or NullObserver()
        self._retire_grace_s = retire_grace_s
        self._entries: dict[str, dict[int, VersionEntry]] = {}
        self._defaults: dict[str, ModelHandle] = {}
        self._tracker = StabilityTracker()
        self._reload_lock = asyncio.Lock()
        heard = observer if isinstance(observer, RolloutObserver) else NullRolloutObserver()
        self._rollouts = Rollouts(ShadowRunner(settings.shadow_queue_size, heard), heard)
        self._retiring: set[asyncio.Task[None]] = set()
        self._poll_task: asyncio.Task[None] | None = None
        self._device: str | None = None
        # Threads start on first use: one for loading, ``inference_threads`` for batches.
        self._load_pool = ThreadPoolExecutor(1, thread_name_prefix="model-loader")
        self._inference_pool = ThreadPoolExecutor(
            settings.inference_threads, thread_name_prefix="inference"
        )
        self._started = self._stopping = self._stopped = False

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Resolve the device, load and warm every configured model, then start polling."""
        if self._started:
            raise RuntimeError("ModelRepository.start() was called twice")
        self._started = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self._load_pool,
            configure_threads,
            self._settings.intra_op_threads,
            self._settings.inter_op_threads,
        )
        self._device = await loop.run_in_executor(
            self._load_pool, resolve_device, self._settings.device
        )
        logger.info("serving models from %s on %s", self._settings.models_dir, self._device)
        async with self._reload_lock:
            await self._reload(initial=True)
        for name in sorted(set(self._settings.model_names or ()) - self._entries.keys()):
            logger.warning("configured model %r has no version directory on disk", name)
        if not self._defaults:
            logger.warning("no model version is available; the service is not ready")
        if self._settings.poll_interval_s > 0:
            self._poll_task = loop.create_task(self._poll_forever(), name="model-poll")

    async def stop(self, drain_timeout_s: float) -> None:
        """Refuse new work, answer what is queued (up to ``drain_timeout_s``), unload all."""
        if self._stopping:
            return
        self._stopping = True
        tasks = [task for task in (self._poll_task, *self._retiring) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, self._rollouts.runner.close(), return_exceptions=True)
        entries = [entry for entry in self._all_entries() if entry.handle is not None]
        handles = [entry.handle for entry in entries if entry.handle is not None]
        failed = await drain_all(handles, ServiceStoppingError, drain_timeout_s)
        if failed:
            logger.warning(
                "drain timed out after %.1f s; %d requests failed", drain_timeout_s, failed
            )
        for entry in entries:
            await self._unload(entry)
        for entry in self._all_entries():
            if entry.state == "LOADING":  # its load was abandoned with the poll task
                entry.state = "END"
        for pool in (self._load_pool, self._inference_pool):
            pool.shutdown(wait=False, cancel_futures=True)
        self._stopped = True

    async def poll_once(self) -> None:
        """One reload pass: pick up settled new versions, retire superseded or removed ones."""
        if not self._started or self._stopping:
            return
        async with self._reload_lock:
            await self._reload(initial=False)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.poll_interval_s)
            try:
                await self.poll_once()
            except Exception:  # a bad pass must not end hot reload for good
                logger.exception("model reload pass failed")

    # -- queries ------------------------------------------------------------

    def get(self, name: str, version: int | None = None) -> ModelHandle:
        """The newest AVAILABLE version of ``name``, or exactly ``version``."""
        if self._stopping:
            raise ServiceStoppingError()
        versions = self._entries.get(name)
        if version is None:
            handle = self._defaults.get(name)
            if handle is not None:
                return handle
        elif versions is not None:  # a pinned or routed version: one look-up when it serves
            entry = versions.get(version)
            handle = entry.handle if entry is not None and entry.state == "AVAILABLE" else None
            if handle is not None and handle.accepting:
                return handle
        if not versions or all(entry.state == "END" for entry in versions.values()):
            raise ModelNotFoundError(name)
        if version is None:
            raise ModelNotReadyError(name, not_ready_detail(versions.values()))
        entry = versions.get(version)
        if entry is None or entry.state == "END":
            raise VersionNotFoundError(name, version)
        if entry.handle is not None and entry.handle.accepting and entry.state != "LOADING":
            return entry.handle
        raise ModelNotReadyError(name, f"version {version} is {entry.state}: {entry.error or ''}")

    def rollout(self, name: str) -> ModelRollout | None:
        """The model's versions.json as in force; None without one (today's behaviour)."""
        return self._rollouts.get(name)

    def rollouts(self) -> dict[str, dict[str, Any]]:
        """Every model's versions.json: in force or refused (and why), labels, split."""
        return self._rollouts.statuses()

    def statuses(self, name: str | None = None) -> list[VersionStatus]:
        """Every version seen, sorted by name and version; empty for an unknown name."""
        names = sorted(self._entries) if name is None else [name] if name in self._entries else []
        return [e.status() for n in names for _, e in sorted(self._entries[n].items())]

    def names(self) -> list[str]:
        """Models with at least one version not yet ended (including FAILED ones)."""
        return sorted(
            name
            for name, versions in self._entries.items()
            if any(entry.state != "END" for entry in versions.values())
        )

    @property
    def ready(self) -> bool:
        """Started (every version found at start has settled), not stopping, at least one
        version AVAILABLE, and every model in ``required_models`` among them.

        A damaged or foreign version is FAILED, which counts as settled: it never holds
        readiness unless its model is required.
        """
        if not self._started or self._stopping:
            return False
        served = set(self._defaults)
        return bool(served) and set(self._settings.required_models) <= served

    @property
    def live(self) -> bool:
        """False once stopped or if the poll task died."""
        poll = self._poll_task
        return not self._stopped and (poll is None or not poll.done() or self._stopping)

    def device_info(self) -> dict[str, Any]:
        info = device_info(self._device)
        info["inference_threads"] = self._settings.inference_threads
        return info

    # -- reload pass ----------------------------------------------------------

    async def _reload(self, *, initial: bool) -> Found:
        settings = self._settings
        loop = asyncio.get_running_loop()
        found: Found = await loop.run_in_executor(
            self._load_pool, scan, settings.models_dir, settings.model_names
        )
        texts = await loop.run_in_executor(
            self._load_pool, read_versions_files, settings.models_dir, settings.model_names
        )
        self._rollouts.stage(texts)
        snapshots = {key: files for key, (_, files) in found.items()}
        settled = self._tracker.observe(snapshots)
        if initial:  # nothing to compare with: what is there now is what there is
            settled = set(snapshots)
        self._refuse_incomplete(found, settled)
        stable = {key for key in settled if not missing_files(snapshots[key])}
        attempted: set[VersionKey] = set()
        while True:
            wanted = self._wanted(found, stable)
            missing = sorted(wanted - self._loaded_keys() - attempted, key=lambda k: -k[1])
            if not missing:
                break
            for key in missing:
                attempted.add(key)
                path, files = found[key]
                await self._load(key, path, files)
        self._rollouts.commit(partial(self._state_on_disk, found), self._available)
        wanted = self._wanted(found, stable)  # without what the files in force no longer name
        for entry in self._all_entries():
            key = (entry.name, entry.version)
            if entry.state == "AVAILABLE" and key not in wanted:
                self._retire(entry)
            elif entry.state in ("FAILED", "END") and key not in found:  # deleted: forget it
                entry.state, entry.error = "END", None
        self._note_unserved(found, stable, wanted)
        return found

    def _refuse_incomplete(self, found: Found, settled: set[VersionKey]) -> None:
        """Settled directories without a SavedModel become FAILED, logged once."""
        for key in sorted(settled):
            path, files = found[key]
            absent = missing_files(files)
            if absent and self._may_load(key, files):
                reason = f"not a complete SavedModel: {', '.join(absent)} missing in {path}"
                entry = self._new_entry(key, path, files)
                self._fail(entry, reason, None)

    def _note_unserved(
        self, found: Found, stable: set[VersionKey], wanted: set[VersionKey]
    ) -> None:
        """List loadable versions the policy does not serve, so none is skipped silently."""
        policy = self._settings.version_policy
        for key in sorted(stable - wanted):
            entry = self._entries.get(key[0], {}).get(key[1])
            if entry is None or (entry.state == "END" and entry.error is None):
                path, files = found[key]
                entry = self._new_entry(key, path, files)
                entry.state, entry.error = "END", f"not served: version policy {policy!r}"
                entry.card = card_or_none(path)

    def _wanted(self, found: Found, stable: set[VersionKey]) -> set[VersionKey]:
        """Versions the policy wants among those loaded or loadable now."""
        loaded = self._loaded_keys()
        loadable = {key for key in stable if self._may_load(key, found[key][1])}
        settings = self._settings
        candidates = found.keys() & (loaded | loadable)
        policy = wanted_versions(candidates, settings.version_policy, settings.pinned_versions)
        return policy | (self._rollouts.wanted() & candidates)

    def _state_on_disk(self, found: Found, name: str, version: int) -> str | None:
        """None when the version has no directory; LOADING until it was tried."""
        if (name, version) not in found:
            return None
        entry = self._entries.get(name, {}).get(version)
        return "LOADING" if entry is None else entry.state

    def _available(self, name: str) -> set[int]:
        versions = self._entries.get(name, {})
        return {v for v, e in versions.items() if e.state == "AVAILABLE" and e.handle}

    def _may_load(self, key: VersionKey, files: Snapshot) -> bool:
        entry = self._entries.get(key[0], {}).get(key[1])
        if entry is None or entry.state == "END":
            return True
        return entry.state == "FAILED" and entry.files != files  # retry only changed files

    def _loaded_keys(self) -> set[VersionKey]:
        return {(e.name, e.version) for e in self._all_entries() if e.state == "AVAILABLE"}

    def _all_entries(self) -> list[VersionEntry]:
        return [entry for versions in self._entries.values() for entry in versions.values()]

    # -- load and unload ------------------------------------------------------

    async def _load(self, key: VersionKey, path: Path, files: Snapshot) -> None:
        name, version = key
        if self._device is None:
            raise RuntimeError("the device is resolved by start(); call it first")
        entry = self._new_entry(key, path, files)
        logger.info("loading %s v%d from %s on %s", name, version, path, self._device)
        sizes = self._settings.warmup_sizes()
        try:
            loaded: LoadedModel = await asyncio.get_running_loop().run_in_executor(
                self._load_pool, load_version, path, self._device, sizes
            )
        except Exception as exc:
            card = exc.card if isinstance(exc, LoadError) else None
            reason = exc.reason if isinstance(exc, LoadError) else f"{type(exc).__name__}: {exc}"
            self._fail(entry, reason, card)
            return
        entry.handle = open_handle(
            name, version, loaded, self._settings, self._inference_pool, self._observer
        )
        entry.state, entry.card, entry.load_seconds = "AVAILABLE", loaded.card, loaded.seconds
        entry.device, entry.runtime, entry.runtime_note = (
            loaded.device,
            loaded.runtime,
            loaded.runtime_note,
        )
        self._refresh_default(name)
        logger.info(
            "%s v%d AVAILABLE in %.2f s (%s)", name, version, loaded.seconds, loaded.runtime
        )
        self._observer.model_loaded(name, version, loaded.device, loaded.seconds)

    def _new_entry(self, key: VersionKey, path: Path, files: Snapshot) -> VersionEntry:
        entry = VersionEntry(key[0], key[1], path, files, self._device or "")
        self._entries.setdefault(key[0], {})[key[1]] = entry
        return entry

    def _fail(self, entry: VersionEntry, reason: str, card: ModelCard | None) -> None:
        entry.state, entry.error, entry.card = "FAILED", reason, card
        logger.error("refusing %s v%d: %s", entry.name, entry.version, reason)
        self._observer.model_load_failed(entry.name, entry.version, reason)

    def _refresh_default(self, name: str) -> None:
        """Point ``get(name)`` at the newest AVAILABLE version (or nothing)."""
        available = self._available(name)
        handle = self._entries[name][max(available)].handle if available else None
        if handle is None:
            self._defaults.pop(name, None)
        else:
            self._defaults[name] = handle
        self._rollouts.refresh(name, available)

    def _retire(self, entry: VersionEntry) -> None:
        entry.state = "UNLOADING"
        self._refresh_default(entry.name)
        logger.info("retiring %s v%d", entry.name, entry.version)
        task = asyncio.get_running_loop().create_task(self._unload_when_drained(entry))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _unload_when_drained(self, entry: VersionEntry) -> None:
        await asyncio.sleep(self._retire_grace_s)
        handle = entry.handle
        if handle is not None:
            detail = f"version {entry.version} was unloaded"
            handle.refuse(lambda: ModelNotReadyError(entry.name, detail))
            await handle.drain()
        await self._unload(entry)

    async def _unload(self, entry: VersionEntry) -> None:
        handle, entry.handle = entry.handle, None
        if handle is not None:
            await handle.close()
        entry.state = "END"
        self._refresh_default(entry.name)
        logger.info("%s v%d unloaded", entry.name, entry.version)
        self._observer.model_unloaded(entry.name, entry.version)
