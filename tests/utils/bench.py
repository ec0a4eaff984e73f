"""Benchmark points as ``bench.run`` writes them to results.json."""

from typing import Any


def point(
    server: str,
    concurrency: int,
    rps: float,
    p50_ms: float,
    p99_ms: float,
    *,
    scenario: str = "mlp",
    note: str = "",
    errors: int = 0,
) -> dict[str, Any]:
    return {
        "server": server, "scenario": scenario, "concurrency": concurrency, "rps": rps,
        "p50_ms": p50_ms, "p90_ms": p99_ms, "p99_ms": p99_ms, "max_ms": p99_ms,
        "requests": int(rps * 3), "non_2xx": errors, "socket_errors": 0, "timeouts": 0,
        "rss_before_mb": 100.0, "rss_after_mb": 101.0, "batches": "", "mean_batch": 0.0,
        "note": note,
    }  # fmt: skip


def issue12_run() -> list[dict[str, Any]]:
    """The servers of issue 12's table at c=1 and c=64, rounded from its figures."""
    return [
        point("kerasserve", 1, 1200, 0.83, 2.0), point("kerasserve", 64, 3200, 18.0, 32.0),
        point("kerasserve-2w", 1, 1210, 0.82, 2.0), point("kerasserve-2w", 64, 4600, 12.0, 26.0),
        point("fastapi-empty", 1, 4700, 0.21, 0.5), point("fastapi-empty", 64, 7700, 8.0, 13.0),
        point("pytriton", 1, 119, 8.4, 12.0), point("pytriton", 64, 1400, 45.0, 74.0),
        point("litserve", 1, 240, 4.1, 7.0), point("litserve", 64, 1000, 64.0, 113.0),
        point("fastapi-naive", 1, 800, 1.24, 3.0), point("fastapi-naive", 64, 625, 100.0, 322.0),
        point("rayserve", 0, 0, 0, 0, note="left out: listens on ['0.0.0.0']"),
    ]  # fmt: skip
