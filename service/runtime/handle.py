"""``ModelHandle``: what callers hold to run one loaded model version."""

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.card import ModelCard
from service.runtime.batcher import DynamicBatcher
from service.runtime.encoded import Inputs, materialized
from service.runtime.errors import InvalidInputError, ServiceStoppingError
from service.runtime.loader import LoadedModel
from service.runtime.observer import RuntimeObserver
from service.runtime.settings import RuntimeSettings
from service.runtime.spec import ModelSpec
from service.runtime.tensors import TensorInfo, validate_inputs

Outputs = dict[str, NDArray[Any]]


class ModelHandle:
    """One AVAILABLE model version: its card, tensor specs and a batched ``infer``.

    A handle counts the calls inside ``infer`` (its leases), so the repository can
    unload a superseded version only once every request that reached it is answered.
    """

    def __init__(
        self,
        name: str,
        version: int,
        loaded: LoadedModel,
        batcher: DynamicBatcher,
        *,
        max_batch_size: int,
        request_timeout_s: float,
        observer: RuntimeObserver,
    ) -> None:
        self.name = name
        self.version = version
        self.spec: ModelSpec = loaded.spec
        self.task = loaded.task
        self.card: ModelCard = loaded.card
        self.device = loaded.device
        self.inputs: Mapping[str, TensorInfo] = loaded.inputs
        self.outputs: Mapping[str, TensorInfo] = loaded.outputs
        self._batcher = batcher
        self._max_rows = max_batch_size
        self._timeout_s = request_timeout_s
        self._observer = observer
        self._leases = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._refusal: Callable[[], Exception] | None = None

    def __repr__(self) -> str:
        return f"ModelHandle({self.name!r}, version={self.version}, device={self.device!r})"

    @property
    def in_flight(self) -> int:
        """Calls currently inside ``infer``."""
        return self._leases

    @property
    def accepting(self) -> bool:
        return self._refusal is None

    async def infer(
        self,
        inputs: Inputs,
        *,
        timeout_s: float | None = None,
        trusted: bool = False,
        off_loop: bool = False,
        in_company: bool = False,
    ) -> Outputs:
        """Run a batch of N >= 1 rows through the dynamic batcher; return N rows per output.

        ``trusted`` inputs were built by the service from this model's own spec (decoded
        images): names, dtype, shape and finiteness hold by construction, so the checks
        a client's tensors need (~20 us) are skipped. ``off_loop`` calls never run on the
        event loop, however fast the model (a shadow call must not hold up the next
        primary request while the other core is free). ``in_company`` calls queue for a
        batch even when they look alone (the caller knows of others in progress).

        Raises ``InvalidInputError``, ``QueueFullError``, ``DeadlineExceededError``,
        ``ServiceStoppingError`` or ``ModelNotReadyError`` (version unloaded).
        """
        if self._refusal is not None:
            error = self._refusal()
            if isinstance(error, ServiceStoppingError):
                self._observer.rejected(self.name, self.version, "stopping")
            raise error
        arrays: Inputs
        if trusted:  # may hold `Encoded` items, prepared where their batch runs
            arrays, rows = dict(inputs), len(next(iter(inputs.values())))
        else:
            arrays, rows = validate_inputs(inputs, self.inputs)
        timeout = self._timeout_s if timeout_s is None else timeout_s
        if timeout <= 0:
            raise InvalidInputError(f"timeout must be positive, got {timeout}")
        self._batcher.check_capacity()
        self._leases += 1
        self._idle.clear()
        try:
            if rows <= self._max_rows:
                return await self._batcher.submit(
                    arrays, rows, timeout, off_loop=off_loop, in_company=in_company
                )
            return await self._infer_chunks(materialized(arrays), rows, timeout)
        finally:
            self._leases -= 1
            if self._leases == 0:
                self._idle.set()

    async def _infer_chunks(
        self, arrays: Mapping[str, NDArray[Any]], rows: int, timeout: float
    ) -> Outputs:
        """More rows than one batch holds: queue them as several requests, join the answers."""
        step = self._max_rows
        futures = [
            self._batcher.submit(
                {name: array[start : start + step] for name, array in arrays.items()},
                min(step, rows - start),
                timeout,
            )
            for start in range(0, rows, step)
        ]
        try:
            parts = [await future for future in futures]
        except BaseException:
            _abandon(futures)
            raise
        return {name: np.concatenate([part[name] for part in parts]) for name in self.outputs}

    def refuse(self, error: Callable[[], Exception]) -> None:
        """From now on ``infer`` raises ``error()``; calls already inside finish normally."""
        self._refusal = error

    async def drain(self) -> None:
        """Wait until no call is inside ``infer``."""
        await self._idle.wait()

    def fail_queued(self, error: Callable[[], Exception]) -> int:
        return self._batcher.fail_queued(error)

    async def close(self) -> None:
        """Stop the batcher; the model's memory is freed once the handle is dropped."""
        self.refuse(ServiceStoppingError)
        await self._batcher.close()


def open_handle(
    name: str,
    version: int,
    loaded: LoadedModel,
    settings: RuntimeSettings,
    executor: Executor,
    observer: RuntimeObserver,
) -> ModelHandle:
    """A handle over a freshly loaded model, its batcher running on the current loop."""
    batcher = DynamicBatcher(
        loaded.runner,
        settings,
        executor,
        name=name,
        version=version,
        observer=observer,
        measured=loaded.batch_seconds,
    )
    batcher.start()
    return ModelHandle(
        name,
        version,
        loaded,
        batcher,
        max_batch_size=settings.max_batch_size,
        request_timeout_s=settings.request_timeout_s,
        observer=observer,
    )


async def drain_all(
    handles: list[ModelHandle], error: Callable[[], Exception], timeout_s: float
) -> int:
    """Refuse new calls on ``handles`` and wait for the ones inside to finish.

    After ``timeout_s`` whatever is still queued fails with ``error()``; returns how many.
    """
    for handle in handles:
        handle.refuse(error)
    try:
        await asyncio.wait_for(asyncio.gather(*(h.drain() for h in handles)), timeout_s)
    except TimeoutError:
        return sum(handle.fail_queued(error) for handle in handles)
    return 0


def _abandon(futures: list["asyncio.Future[Outputs]"]) -> None:
    """Cancel the chunks still pending and mark failed ones as seen (no 'never retrieved')."""
    for future in futures:
        if not future.cancel() and not future.cancelled():
            future.exception()
