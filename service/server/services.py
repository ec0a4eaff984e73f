"""What one running app holds between requests, handed to routes by the lifespan.

`Lifecycle` exists before the lifespan starts so the CLI's signal hook can mark the
app as stopping the moment SIGTERM arrives, before uvicorn begins its own shutdown;
`Services` is the typed lifespan state the dependencies in `api/deps.py` read.
"""

import time
from dataclasses import dataclass, field
from typing import TypedDict

from service.config import Settings
from service.metrics import ServiceMetrics
from service.ports import Repository
from service.server.admission import Admission
from service.server.read_gate import ReadGate


@dataclass
class Lifecycle:
    """Whether (and since when) the app is shutting down: readiness false, no new work."""

    stopping_since: float | None = None

    @property
    def stopping(self) -> bool:
        return self.stopping_since is not None

    def begin_stopping(self) -> None:
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()

    def drain_budget(self, drain_timeout_s: float) -> float:
        """What is left of the drain timeout; uvicorn's own wait already used some."""
        if self.stopping_since is None:
            return drain_timeout_s
        return max(0.0, drain_timeout_s - (time.monotonic() - self.stopping_since))


@dataclass(frozen=True)
class Services:
    """The long-lived objects every request may need."""

    settings: Settings
    repository: Repository
    metrics: ServiceMetrics
    lifecycle: Lifecycle = field(default_factory=Lifecycle)


class LifespanState(TypedDict):
    """The lifespan state Starlette copies into every request's `request.state`.

    uvicorn also hands it to each connection's protocol, which is how the connections
    find the process's `ReadGate` and `Admission`.
    """

    services: Services
    read_gate: ReadGate
    admission: Admission
