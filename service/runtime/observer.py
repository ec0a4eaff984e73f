"""What the runtime reports about itself; the HTTP side turns it into metrics.

Calls happen on the event loop, several per request, so implementations must be
cheap and must not block.
"""

from typing import Literal, Protocol, runtime_checkable

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


ShadowOutcome = Literal["agree", "disagree", "error"]


@runtime_checkable
class RolloutObserver(Protocol):
    """What the rollout layer reports (versions.json and shadow traffic); the repository
    uses its observer for these when the observer implements them."""

    def versions_file_refused(self, name: str, reason: str | None) -> None:
        """``reason`` for a newly refused file; None once the file in force is valid."""

    def shadow_compared(
        self, name: str, primary: int, shadow: int, outcome: ShadowOutcome, rows: int
    ) -> None: ...

    def shadow_ran(self, name: str, version: int, seconds: float) -> None: ...

    def shadow_shed(self, name: str) -> None: ...


class NullRolloutObserver:
    def versions_file_refused(self, name: str, reason: str | None) -> None:
        pass

    def shadow_compared(
        self, name: str, primary: int, shadow: int, outcome: ShadowOutcome, rows: int
    ) -> None:
        pass

    def shadow_ran(self, name: str, version: int, seconds: float) -> None:
        pass

    def shadow_shed(self, name: str) -> None:
        pass
