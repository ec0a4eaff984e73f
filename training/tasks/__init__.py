"""Task runners: classification, forecasting and generation."""

from service.card import Task
from training.run import TaskRunner


def get_runner(kind: Task) -> TaskRunner:
    # Imported here so a forecast run does not pay for the image pipeline and back.
    if kind == "classify":
        from training.tasks.classify import ClassifyTask

        return ClassifyTask()
    if kind == "forecast":
        from training.tasks.forecast import ForecastTask

        return ForecastTask()
    if kind == "generate":
        from training.tasks.generate import GenerateTask

        return GenerateTask()
    # Card-less tensor models are served as "predict"; nothing here trains one.
    raise ValueError(f"training has no runner for the {kind!r} task")
