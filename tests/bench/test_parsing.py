"""The benchmark's parsers: wrk summaries and batch histograms."""

import pytest

from bench import promtext, wrk

WRK_OUT = """Running 2s test @ http://127.0.0.1:1
  1 threads and 16 connections
BENCH_JSON {"requests": 1000, "duration_us": 2000000, "bytes": 5, \
"errors": {"connect": 0, "read": 1, "write": 0, "status": 10, "timeout": 2}, \
"latency_us": {"p50": 1500, "p90": 3000, "p99": 9000, "max": 12000, "mean": 1800.5}}
"""

METRICS = """# TYPE kerasserve_batch_size histogram
kerasserve_batch_size_bucket{model="fashion_mlp",version="1",le="1.0"} %d
kerasserve_batch_size_bucket{model="fashion_mlp",version="1",le="2.0"} %d
kerasserve_batch_size_bucket{model="fashion_mlp",version="1",le="+Inf"} %d
kerasserve_batch_size_count{model="fashion_mlp",version="1"} %d
kerasserve_batch_size_sum{model="fashion_mlp",version="1"} %d
kerasserve_batch_size_bucket{model="other",version="1",le="1.0"} 99
kerasserve_model_load_seconds{model="fashion_mlp",version="1"} %s
"""


def test_parse_wrk_summary() -> None:
    result = wrk.parse(WRK_OUT)
    assert result.requests == 1000
    assert result.rps == pytest.approx(495.0)  # 2xx only
    assert (result.non_2xx, result.socket_errors, result.timeouts) == (10, 1, 2)
    assert result.errors == 13
    assert (result.p50_ms, result.p99_ms, result.max_ms) == (1.5, 9.0, 12.0)


def test_parse_without_summary_fails() -> None:
    with pytest.raises(ValueError, match="BENCH_JSON"):
        wrk.parse("wrk: connection refused")


def test_batch_distribution_between_scrapes() -> None:
    before = promtext.batch_buckets(METRICS % (10, 10, 10, 10, 10, "0.5"), "fashion_mlp")
    after = promtext.batch_buckets(METRICS % (20, 50, 60, 60, 150, "0.5"), "fashion_mlp")
    assert promtext.distribution(before, after) == "1:20% 2:60% 3-inf:20%"


def test_batch_totals_sum_over_workers() -> None:
    one = METRICS % (1, 2, 2, 2, 3, "0.5")
    two = METRICS % (0, 4, 4, 4, 8, "0.7")
    assert promtext.process_key(one) != promtext.process_key(two)
    assert promtext.batch_totals(promtext.combine([one, two]), "fashion_mlp") == (11.0, 6.0)
