"""Errors raised by the model runtime; the HTTP layer maps each to one status code.

::

    RuntimeServiceError
    ├── ModelNotFoundError       no model of that name
    ├── VersionNotFoundError     the model exists, that version is not served
    ├── VersionLabelNotFoundError  versions.json gives the model no such label
    ├── ModelNotReadyError       known, but no version is AVAILABLE (loading, failed, unloading)
    │   └── VersionLabelPendingError  the label's version is not AVAILABLE yet
    ├── QueueFullError           back-pressure: try again after ``retry_after`` seconds
    ├── DeadlineExceededError    the request waited in the queue past its timeout
    ├── InvalidInputError        the tensors do not fit the model's signature
    ├── InferenceError           the model itself misbehaved (wrong output batch length)
    └── ServiceStoppingError     shutting down; no new work is accepted
"""


class RuntimeServiceError(Exception):
    """Base of every error the runtime raises on purpose."""


class ModelNotFoundError(RuntimeServiceError):
    def __init__(self, name: str) -> None:
        super().__init__(f"model {name!r} is not served")
        self.name = name


class VersionNotFoundError(RuntimeServiceError):
    def __init__(self, name: str, version: int) -> None:
        super().__init__(f"model {name!r} has no served version {version}")
        self.name = name
        self.version = version


class VersionLabelNotFoundError(RuntimeServiceError):
    def __init__(self, name: str, label: str) -> None:
        super().__init__(f"model {name!r} has no version label {label!r}")
        self.name = name
        self.label = label


class ModelNotReadyError(RuntimeServiceError):
    def __init__(self, name: str, detail: str | None = None) -> None:
        message = f"model {name!r} has no available version"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.name = name
        self.detail = detail


class VersionLabelPendingError(ModelNotReadyError):
    def __init__(self, name: str, label: str, version: int) -> None:
        super().__init__(
            name, f"label {label!r} names version {version}, which is not AVAILABLE yet"
        )
        self.label = label
        self.version = version


class QueueFullError(RuntimeServiceError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"inference queue is full; retry after {retry_after:.3f} s")
        self.retry_after = retry_after


class DeadlineExceededError(RuntimeServiceError):
    def __init__(self, waited_s: float | None = None) -> None:
        detail = f" after {waited_s:.3f} s" if waited_s is not None else ""
        super().__init__(f"request timed out in the inference queue{detail}")
        self.waited_s = waited_s


class InvalidInputError(RuntimeServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InferenceError(RuntimeServiceError):
    """The model returned something the runtime cannot hand back row by row."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServiceStoppingError(RuntimeServiceError):
    def __init__(self) -> None:
        super().__init__("the service is stopping and accepts no new work")
