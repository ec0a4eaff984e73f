"""The benchmark's pure logic: wrk summaries, batch histograms, floors."""

import pytest

from bench import promtext, report, wrk

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


def _point(server: str, c: int, rps: float, p50: float, p99: float) -> dict[str, object]:
    return {
        "server": server, "scenario": "mlp", "concurrency": c, "rps": rps, "p50_ms": p50,
        "p90_ms": p99, "p99_ms": p99, "max_ms": p99, "non_2xx": 0, "socket_errors": 0,
        "timeouts": 0, "rss_before_mb": 100.0, "rss_after_mb": 101.0, "batches": "", "note": "",
    }  # fmt: skip


def test_floors_against_best_peer() -> None:
    points = [
        _point("kerasserve", 64, 3000, 10, 40), _point("litserve", 64, 2000, 20, 30),
        _point("fastapi-naive", 64, 900, 50, 200), _point("kerasserve", 1, 600, 1.6, 3),
        _point("fastapi-naive", 1, 650, 1.5, 3), _point("kerasserve", 256, 3000, 50, 90),
    ]  # fmt: skip
    verdict = {floor.name: floor.met for floor in report.floors(points)}
    assert verdict == {
        "c=64 throughput >= 1.2x best peer": True,  # 1.5x litserve
        "c=64 p99 <= 2x best peer's": True,
        "c=64 throughput >= 3x naive FastAPI": True,
        "c=1 p50 within 1.2x naive FastAPI": True,
        "c=256 no errors, no timeouts, memory flat": True,
    }
    assert "1.50x" in report.ratios(points)
