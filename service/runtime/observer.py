"""What the runtime reports about itself; the HTTP side turns it into metrics.

Calls happen on the event loop, several per request, so implementations must be
cheap and must not block.
"""

from typing import Literal, Protocol

RejectReason = Literal["queue_full", "deadline", "stopping"]


class RuntimeObserver(Protocol):
    def model_loaded(self, name: str, version: int, device: str, seconds: float) -> None: ...

    def model_unloaded(self, name: str, version: int) -> None: ...

    def model_load_failed(self, name: str, version: int, reason: str) -> None: ...

    def queue_depth(self, name: str, version: int, depth: int) -> None: ...

    def queue_wait(self, name: str, version: int, seconds: float) -> None: ...

    def batch_ran(
        self, name: str, version: int, size: int, padded_size: int, seconds: float
    ) -> None: ...

    def rejected(self, name: str, version: int, reason: RejectReason) -> None: ...


class NullObserver:
    """Observes nothing; the default when no metrics are wanted."""

    def model_loaded(self, name: str, version: int, device: str, seconds: float) -> None:
        pass

    def model_unloaded(self, name: str, version: int) -> None:
        pass

    def model_load_failed(self, name: str, version: int, reason: str) -> None:
        pass

    def queue_depth(self, name: str, version: int, depth: int) -> None:
        pass

    def queue_wait(self, name: str, version: int, seconds: float) -> None:
        pass

    def batch_ran(
        self, name: str, version: int, size: int, padded_size: int, seconds: float
    ) -> None:
        pass

    def rejected(self, name: str, version: int, reason: RejectReason) -> None:
        pass
