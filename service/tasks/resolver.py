"""Which loaded model a request gets: its name or the task's default, its version or
the newest available. Every transport calls this; none decides it on its own.

``defaults`` maps a task to the model used when a request names none
(`KERASSERVE_DEFAULT_MODELS`); without one, the only AVAILABLE model of that task is
used. What was resolved is recorded for the request's log line and metrics.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from service.errors import ModelRequiredError, StoppingError, TaskMismatchError
from service.ports import Model, Repository


class Recorder(Protocol):
    """Where the resolved model is noted (the request's context)."""

    def record_model(self, name: str, version: int | None) -> None: ...

    def record_unknown_model(self) -> None: ...


class Stopping(Protocol):
    @property
    def stopping(self) -> bool: ...


@dataclass(frozen=True)
class ModelResolver:
    """Turns a model name (and version) from a request into a loaded model."""

    repository: Repository
    lifecycle: Stopping
    recorder: Recorder
    defaults: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str, version: int | None = None, *, task: str | None = None) -> Model:
        """The model, or a mapped error: unknown (404), not ready or stopping (503), task (422)."""
        if self.lifecycle.stopping:
            raise StoppingError("the service is shutting down and accepts no new work")
        self.recorder.record_unknown_model()
        model = self.repository.get(name, version)
        self.recorder.record_model(model.name, model.version)
        if task is not None and model.task != task:
            raise TaskMismatchError(
                f"model {name!r} is a {model.task} model; this endpoint needs a {task} model"
            )
        return model

    def get_for_task(self, name: str | None, version: int | None, task: str) -> Model:
        """Like `get`, but `name` may be omitted: the task's default model is used."""
        return self.get(name or self.default_for(task), version, task=task)

    def default_for(self, task: str) -> str:
        """The configured default, else the only AVAILABLE model of ``task``."""
        configured = self.defaults.get(task)
        if configured is not None:
            return configured
        candidates = self.names_for_task(task)
        if len(candidates) != 1:
            listed = ", ".join(candidates) or "none"
            raise ModelRequiredError(f"name the {task} model to use (loaded: {listed})")
        return candidates[0]

    def names_for_task(self, task: str) -> list[str]:
        found = {
            status.name
            for status in self.repository.statuses()
            if status.state == "AVAILABLE" and status.card is not None and status.card.task == task
        }
        return sorted(found)
