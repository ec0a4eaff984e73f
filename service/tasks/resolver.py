"""Which loaded model a request gets: its name or the task's default, then its version,
its version label, the traffic split or the newest available. Every transport calls
this (`ModelResolver.resolve`); none decides it on its own.

``defaults`` maps a task to the model used when a request names none
(`KERASSERVE_DEFAULT_MODELS`); without one, the only AVAILABLE model of that task is
used. A model with a versions.json (`service.runtime.rollout`) also has labels, a
split and shadow traffic; without one, nothing of that costs anything. What was
resolved is recorded for the request's log line and metrics.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from service.errors import (
    ModelRequiredError,
    StoppingError,
    TaskMismatchError,
    VersionAndLabelError,
)
from service.ports import Model, Repository
from service.runtime.errors import (
    ModelNotFoundError,
    RuntimeServiceError,
    VersionLabelNotFoundError,
)
from service.runtime.rollout import ModelRollout
from service.tasks.shadow import NOT_SHADOWED, shadowed


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

    def resolve(
        self,
        name: str | None,
        version: int | None = None,
        label: str | None = None,
        route_key: str | None = None,
        task: str | None = None,
    ) -> Model:
        """The model a request gets, for any transport.

        ``name`` None takes ``task``'s default model. Then, in this order: an explicit
        ``version``; a version ``label`` (versions.json's `version_labels`; gRPC's
        `ModelSpec.version_label`, REST's `?version_label=` and `/labels/<label>`); the
        file's `traffic` split, sticky for a ``route_key`` (`X-Kerasserve-Route-Key`);
        else the newest AVAILABLE version. A sampled share of requests comes back as a
        `ShadowedModel`, whose calls are repeated on the shadow version once answered.

        Raises the table's errors: a version and a label together (400), unknown model,
        version or label (404), nothing AVAILABLE, a pending label or stopping (503),
        the wrong task (422), no default model (422).
        """
        if version is not None and label is not None:
            raise VersionAndLabelError(
                f"name a version ({version}) or a version label ({label!r}), not both"
            )
        if name is None:
            if task is None:
                raise ModelRequiredError("name the model to use")
            name = self.default_for(task)
        if self.lifecycle.stopping:
            raise StoppingError("the service is shutting down and accepts no new work")
        self.recorder.record_unknown_model()
        rollout = self.repository.rollout(name)
        if rollout is None:
            if label is not None:
                if name not in self.repository.names():
                    raise ModelNotFoundError(name)
                raise VersionLabelNotFoundError(name, label)
            model = self.repository.get(name, version)
        elif label is not None:
            model = self.repository.get(name, rollout.label_version(label))
        else:
            model = self.repository.get(name, version or rollout.pick(route_key))
        self.recorder.record_model(model.name, model.version)
        if task is not None and model.task != task:
            raise TaskMismatchError(
                f"model {name!r} is a {model.task} model; this endpoint needs a {task} model"
            )
        return model if rollout is None else self._shadowed(model, rollout)

    def _shadowed(self, model: Model, rollout: ModelRollout) -> Model:
        shadow_version = rollout.shadow_version(model.version)
        if shadow_version is None or model.task in NOT_SHADOWED:
            return model
        try:
            shadow = self.repository.get(model.name, shadow_version)
        except RuntimeServiceError:  # retired a moment ago: this request is not shadowed
            return model
        return shadowed(model, shadow, rollout)

    def get(
        self,
        name: str,
        version: int | None = None,
        *,
        task: str | None = None,
        label: str | None = None,
        route_key: str | None = None,
    ) -> Model:
        """`resolve` for a named model."""
        return self.resolve(name, version, label, route_key, task)

    def get_for_task(
        self,
        name: str | None,
        version: int | None,
        task: str,
        *,
        label: str | None = None,
        route_key: str | None = None,
    ) -> Model:
        """`resolve` where `name` may be omitted: the task's default model is used."""
        return self.resolve(name, version, label, route_key, task)

    def default_for(self, task: str) -> str:
        """The configured default if the repository has it (in any state: a loading or
        failed default answers for itself), else the only AVAILABLE model of ``task``, so
        the image's zoo defaults do not stop a mounted directory's one classifier."""
        configured = self.defaults.get(task)
        if configured is not None and self.repository.statuses(configured):
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
