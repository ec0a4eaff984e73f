"""Prometheus metrics for the service, fed by the HTTP layer and the model runtime.

`ServiceMetrics` implements the runtime's `RuntimeObserver` protocol, so the runtime
reports loads, queues and batches without importing prometheus-client. Each app owns
its `CollectorRegistry`, which keeps parallel test apps from colliding. Label values
are bounded: models and versions come from the repository (never from the URL),
endpoints are route templates, and anything else becomes a fixed placeholder. The
series every request writes are `service.metrics.loop` ones (written on the event
loop, no locks); the rare ones stay prometheus-client's.
"""

import threading

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service.metrics.loop import LoopCounter, LoopGauge, LoopHistogram
from service.metrics.rollout import RolloutMetrics
from service.runtime.observer import ShadowOutcome

# `_created` series double the exposition and no dashboard or alert reads them.
disable_created_metrics()

LATENCY_BUCKETS = (
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
EXPOSITION_CONTENT_TYPE = CONTENT_TYPE_LATEST

_MODEL_VERSION = ("model", "version")


class ServiceMetrics:
    """Every metric of one app, and the observer callbacks that update them."""

    def __init__(self, namespace: str = "kerasserve") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._loaded: dict[str, set[int]] = {}
        self._build_http(namespace)
        self._build_runtime(namespace)
        self._build_models(namespace)
        self.rollout = RolloutMetrics(namespace, self.registry, LATENCY_BUCKETS)

    def _build_http(self, ns: str) -> None:
        reg = self.registry
        self.requests = LoopCounter(
            "requests", "Requests answered (HTTP status, or gRPC status code name).",
            ("model", "version", "endpoint", "status", "protocol"), namespace=ns, registry=reg,
        )  # fmt: skip
        self.request_latency = LoopHistogram(
            "request_duration_seconds", "Time to answer a request, body included.",
            ("model", "version", "endpoint", "protocol"), namespace=ns, registry=reg,
            buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        self.images_generated = Counter(
            "images_generated", "Images produced by generator models.",
            ("model",), namespace=ns, registry=reg,
        )  # fmt: skip

    def _build_runtime(self, ns: str) -> None:
        reg = self.registry
        self.inference_latency = LoopHistogram(
            "inference_duration_seconds", "Time of one batched model call.",
            _MODEL_VERSION, namespace=ns, registry=reg, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        self.batch_size = LoopHistogram(
            "batch_size", "Requests rows per batched model call (before padding).",
            _MODEL_VERSION, namespace=ns, registry=reg, buckets=BATCH_BUCKETS,
        )  # fmt: skip
        self.queue_wait_time = LoopHistogram(
            "queue_wait_seconds", "Time a request waited in the batch queue.",
            _MODEL_VERSION, namespace=ns, registry=reg, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        self.queue_depth_gauge = LoopGauge(
            "queue_depth", "Requests waiting in the batch queue.",
            _MODEL_VERSION, namespace=ns, registry=reg,
        )  # fmt: skip

    def _build_models(self, ns: str) -> None:
        reg = self.registry
        self.rejections = Counter(
            "rejected_requests", "Requests refused by the runtime, by reason.",
            ("model", "reason"), namespace=ns, registry=reg,
        )  # fmt: skip
        self.model_loaded_gauge = Gauge(
            "model_loaded", "1 while a model version is loaded and serving.",
            _MODEL_VERSION, namespace=ns, registry=reg,
        )  # fmt: skip
        self.model_version_gauge = Gauge(
            "model_version", "Newest loaded version of each model.",
            ("model",), namespace=ns, registry=reg,
        )  # fmt: skip
        self.model_load_time = Gauge(
            "model_load_seconds", "Time the last load (with warm-up) of a version took.",
            _MODEL_VERSION, namespace=ns, registry=reg,
        )  # fmt: skip
        self.model_load_failures = Counter(
            "model_load_failures", "Versions that failed to load or warm up.",
            ("model",), namespace=ns, registry=reg,
        )  # fmt: skip

    # HTTP and gRPC side ----------------------------------------------------------
    def observe_request(
        self,
        *,
        model: str,
        version: str,
        endpoint: str,
        status: int | str,
        seconds: float,
        protocol: str = "http",
    ) -> None:
        """One answered request; gRPC calls give their method and status code name."""
        self.requests.inc((model, version, endpoint, str(status), protocol))
        self.request_latency.observe((model, version, endpoint, protocol), seconds)

    def observe_generated(self, model: str, count: int) -> None:
        self.images_generated.labels(model).inc(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # RuntimeObserver -------------------------------------------------------------
    def model_loaded(self, name: str, version: int, device: str, seconds: float) -> None:
        with self._lock:
            self._loaded.setdefault(name, set()).add(version)
            newest = max(self._loaded[name])
        self.model_loaded_gauge.labels(name, str(version)).set(1)
        self.model_load_time.labels(name, str(version)).set(seconds)
        self.model_version_gauge.labels(name).set(newest)

    def model_unloaded(self, name: str, version: int) -> None:
        with self._lock:
            versions = self._loaded.setdefault(name, set())
            versions.discard(version)
            newest = max(versions) if versions else 0
        self.model_loaded_gauge.labels(name, str(version)).set(0)
        self.model_version_gauge.labels(name).set(newest)

    def model_load_failed(self, name: str, version: int, reason: str) -> None:
        self.model_load_failures.labels(name).inc()

    def queue_depth(self, name: str, version: int, depth: int) -> None:
        self.queue_depth_gauge.set((name, str(version)), depth)

    def queue_wait(self, name: str, version: int, seconds: float) -> None:
        self.queue_wait_time.observe((name, str(version)), seconds)

    def batch_ran(
        self, name: str, version: int, size: int, padded_size: int, seconds: float
    ) -> None:
        labels = (name, str(version))
        self.batch_size.observe(labels, size)
        self.inference_latency.observe(labels, seconds)

    def rejected(self, name: str, version: int, reason: str) -> None:
        self.rejections.labels(name, reason).inc()

    # RolloutObserver ---------------------------------------------------------------
    def versions_file_refused(self, name: str, reason: str | None) -> None:
        self.rollout.versions_file_refused(name, reason)

    def shadow_compared(
        self, name: str, primary: int, shadow: int, outcome: ShadowOutcome, rows: int
    ) -> None:
        self.rollout.shadow_compared(name, primary, shadow, outcome, rows)

    def shadow_ran(self, name: str, version: int, seconds: float) -> None:
        self.rollout.shadow_ran(name, version, seconds)

    def shadow_shed(self, name: str) -> None:
        self.rollout.shadow_shed(name)
