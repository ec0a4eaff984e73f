"""The narrow view of the model runtime that the HTTP layer is written against.

The runtime package (`service.runtime`) provides the real `ModelRepository` and
`ModelHandle`; routes only see these protocols, so unit tests can hand in small fakes
through `dependency_overrides` and the HTTP code never reaches into runtime internals.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from numpy.typing import NDArray

from service.card import ModelCard
from service.runtime.encoded import Inputs
from service.runtime.rollout import ModelRollout
from service.runtime.spec import ModelSpec


class TensorSpec(Protocol):
    """Dtype name (numpy spelling, e.g. "float32") and shape (None = any size)."""

    @property
    def dtype(self) -> str: ...

    @property
    def shape(self) -> tuple[int | None, ...]: ...


class Model(Protocol):
    """One loaded version of one model, ready to run batches."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def task(self) -> str: ...

    @property
    def card(self) -> ModelCard: ...

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def device(self) -> str: ...

    @property
    def inputs(self) -> Mapping[str, TensorSpec]: ...

    @property
    def outputs(self) -> Mapping[str, TensorSpec]: ...

    async def infer(
        self,
        inputs: Inputs,
        *,
        timeout_s: float | None = None,
        trusted: bool = False,
        off_loop: bool = False,
        in_company: bool = False,
    ) -> dict[str, NDArray[Any]]: ...


class Status(Protocol):
    """Where one version of a model is in its life (TF Serving's state names)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def state(self) -> str: ...

    @property
    def device(self) -> str | None: ...

    @property
    def runtime(self) -> str | None: ...

    @property
    def runtime_note(self) -> str | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def load_seconds(self) -> float | None: ...

    @property
    def card(self) -> ModelCard | None: ...


class Repository(Protocol):
    """Every model the service knows: loads, reloads, hands out versions."""

    async def start(self) -> None: ...

    async def stop(self, drain_timeout_s: float) -> None: ...

    def get(self, name: str, version: int | None = None) -> Model: ...

    def statuses(self, name: str | None = None) -> Sequence[Status]: ...

    def names(self) -> list[str]: ...

    def rollout(self, name: str) -> ModelRollout | None:
        """The model's versions.json as in force (labels, split, shadow); None without."""

    def rollouts(self) -> Mapping[str, Mapping[str, Any]]:
        """Each versions.json's state for /v1/models: in force or refused, labels, split."""

    @property
    def ready(self) -> bool: ...

    @property
    def live(self) -> bool: ...

    def device_info(self) -> Mapping[str, Any]: ...
