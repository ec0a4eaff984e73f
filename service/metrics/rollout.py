"""The rollout series: shadow agreement, shadow latency and sheds, refused versions.json.

`RolloutMetrics` is the runtime's `RolloutObserver`; `ServiceMetrics` owns one and
hands it to the repository with the rest of its observer callbacks. Shadow rows are
written by the shadow tasks on the event loop (loop series, no locks); refusals are
rare (prometheus-client's own).
"""

from prometheus_client import CollectorRegistry, Counter, Gauge

from service.metrics.loop import LoopCounter, LoopHistogram
from service.runtime.observer import ShadowOutcome


class RolloutMetrics:
    def __init__(self, ns: str, registry: CollectorRegistry, buckets: tuple[float, ...]) -> None:
        self.shadow_rows = LoopCounter(
            "shadow_requests",
            "Shadow comparisons, counted per row (per image or series): agree, disagree, error.",
            ("model", "primary", "shadow", "outcome"), namespace=ns, registry=registry,
        )  # fmt: skip
        self.shadow_latency = LoopHistogram(
            "shadow_duration_seconds", "Time the shadow version took to answer a shadow call.",
            ("model", "version"), namespace=ns, registry=registry, buckets=buckets,
        )  # fmt: skip
        self.shadow_shed_count = LoopCounter(
            "shadow_shed", "Shadow calls not made because the shadow queue was full.",
            ("model",), namespace=ns, registry=registry,
        )  # fmt: skip
        self.refused = Gauge(
            "versions_file_refused",
            "1 while the model's versions.json is refused (the previous one stays in force).",
            ("model",), namespace=ns, registry=registry,
        )  # fmt: skip
        self.refusals = Counter(
            "versions_file_refusals", "versions.json files refused, once per file and reason.",
            ("model",), namespace=ns, registry=registry,
        )  # fmt: skip

    def versions_file_refused(self, name: str, reason: str | None) -> None:
        self.refused.labels(name).set(0 if reason is None else 1)
        if reason is not None:
            self.refusals.labels(name).inc()

    def shadow_compared(
        self, name: str, primary: int, shadow: int, outcome: ShadowOutcome, rows: int
    ) -> None:
        self.shadow_rows.inc((name, str(primary), str(shadow), outcome), rows)

    def shadow_ran(self, name: str, version: int, seconds: float) -> None:
        self.shadow_latency.observe((name, str(version)), seconds)

    def shadow_shed(self, name: str) -> None:
        self.shadow_shed_count.inc((name,))
