"""Task runners: classification, forecasting and generation."""

from training.recipes import TaskKind
from training.run import TaskRunner


def get_runner(kind: TaskKind) -> TaskRunner:
    # Imported here so a forecast run does not pay for the image pipeline and back.
    if kind == "classify":
        from training.tasks.classify import ClassifyTask

        return ClassifyTask()
    if kind == "forecast":
        from training.tasks.forecast import ForecastTask

        return ForecastTask()
    from training.tasks.generate import GenerateTask

    return GenerateTask()
