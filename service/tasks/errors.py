"""Errors of the task layer: what a request asks of a task does not fit the model."""

from service.runtime.errors import InvalidInputError


class TaskRequestError(InvalidInputError):
    """A task's parameters do not fit the model or the limits (422 `invalid_request`)."""


class WrongTaskError(InvalidInputError):
    """The model was asked for a task it does not do (422 `invalid_input`)."""
