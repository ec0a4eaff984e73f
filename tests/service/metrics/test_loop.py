"""The loop-thread series expose exactly what prometheus-client's own would."""

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.metrics import LATENCY_BUCKETS
from service.metrics.loop import LoopCounter, LoopGauge, LoopHistogram

# On and around every bound (le is inclusive), below the first, beyond the last.
OBSERVED = [0.0, 0.0001, 0.00025, 0.0003, 0.001, 0.00100001, 0.05, 2.5, 9.99, 10.0, 11.0, 1e9]


def _both() -> tuple[CollectorRegistry, CollectorRegistry]:
    return CollectorRegistry(), CollectorRegistry()


def test_a_histogram_exposes_the_same_text_as_prometheus_client():
    ours_registry, theirs_registry = _both()
    ours = LoopHistogram(
        "latency_seconds", "Time taken.", ("model", "endpoint"),
        buckets=LATENCY_BUCKETS, namespace="ks", registry=ours_registry,
    )  # fmt: skip
    theirs = Histogram(
        "latency_seconds", "Time taken.", ("model", "endpoint"),
        buckets=LATENCY_BUCKETS, namespace="ks", registry=theirs_registry,
    )  # fmt: skip
    for index, value in enumerate(OBSERVED):
        labels = ("mlp", "/v1/classify") if index % 3 else ("cnn", "/v1/classify")
        ours.observe(labels, value)
        theirs.labels(*labels).observe(value)
    assert generate_latest(ours_registry) == generate_latest(theirs_registry)
    exposed = generate_latest(ours_registry).decode()
    assert 'ks_latency_seconds_bucket{endpoint="/v1/classify",le="+Inf",model="mlp"} 8.0' in exposed
    assert (
        'ks_latency_seconds_bucket{endpoint="/v1/classify",le="0.00025",model="mlp"} 2.0' in exposed
    )


def test_counters_and_gauges_expose_the_same_text_as_prometheus_client():
    ours_registry, theirs_registry = _both()
    ours_counter = LoopCounter("requests", "Answered.", ("status",), namespace="ks",
                               registry=ours_registry)  # fmt: skip
    ours_gauge = LoopGauge("depth", "Queued.", ("model",), namespace="ks", registry=ours_registry)
    theirs_counter = Counter("requests", "Answered.", ("status",), namespace="ks",
                             registry=theirs_registry)  # fmt: skip
    theirs_gauge = Gauge("depth", "Queued.", ("model",), namespace="ks", registry=theirs_registry)
    for status in ("200", "200", "404", "200"):
        ours_counter.inc((status,))
        theirs_counter.labels(status).inc()
    ours_counter.inc(("503",), 2.5)
    theirs_counter.labels("503").inc(2.5)
    for depth in (3, 0, 7):
        ours_gauge.set(("mlp",), depth)
        theirs_gauge.labels("mlp").set(depth)
    assert generate_latest(ours_registry) == generate_latest(theirs_registry)


def test_an_unwritten_metric_still_exposes_its_help_and_type():
    registry = CollectorRegistry()
    LoopHistogram("idle", "Never observed.", ("model",), buckets=(1, 2), namespace="ks",
                  registry=registry)  # fmt: skip
    assert (
        generate_latest(registry) == b"# HELP ks_idle Never observed.\n# TYPE ks_idle histogram\n"
    )


def test_wrong_label_counts_and_unsorted_buckets_are_refused():
    registry = CollectorRegistry()
    counter = LoopCounter("c", "C.", ("a", "b"), namespace="ks", registry=registry)
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(("only one",))
    with pytest.raises(ValueError, match="increasing"):
        LoopHistogram("h", "H.", (), buckets=(2, 1), namespace="ks", registry=registry)
