"""The report: references (best peer, ceiling), ratios against both, floors, the page."""

import json
import sys
from pathlib import Path

import pytest

import bench.__main__ as cli
from bench import report, run
from tests.utils.bench import issue12_run, point


def _verdicts(points: list[dict[str, object]]) -> dict[str, bool | None]:
    return {floor.name: floor.met for floor in report.floors(points)}


def test_our_server_names_carry_the_worker_count() -> None:
    assert [report.ours_name(n) for n in (1, 2, 4)] == [
        "kerasserve",
        "kerasserve-2w",
        "kerasserve-4w",
    ]
    assert [report.workers_of(s) for s in ("kerasserve", "kerasserve-2w", "kerasserve-12w")] == [
        1,
        2,
        12,
    ]
    for other in ("kerasserve-1w", "kerasserve-w", "fastapi-empty", "fastapi-naive-cnn"):
        assert report.workers_of(other) == 0
    assert report.ours_servers(issue12_run()) == ["kerasserve", "kerasserve-2w"]


def test_best_peer_is_neither_ours_nor_the_ceiling() -> None:
    points = issue12_run()
    best = report.best_peer(points, 64)
    assert best is not None and best["server"] == "pytriton"
    best_at_1 = report.best_peer(points, 1)
    assert best_at_1 is not None and best_at_1["server"] == "fastapi-naive"
    ceiling = report.ceiling(points, 64)
    assert ceiling is not None and ceiling["rps"] == 7700
    assert report.best_peer(points, 16) is None and report.ceiling(points, 16) is None


def test_every_ratio_is_given_against_the_best_peer_and_the_ceiling() -> None:
    lines = report.ratios(issue12_run()).splitlines()
    assert lines[0] == "| ours | against | c=1 | c=64 |"
    rows = {tuple(line.split(" | ")[:2]): line for line in lines[2:]}
    assert set(rows) == {
        ("| kerasserve", "best peer"),
        ("| kerasserve", "ceiling"),
        ("| kerasserve-2w", "best peer"),
        ("| kerasserve-2w", "ceiling"),
    }
    # c=64: 3,200 / 1,400 req/s, p50 18 / 45 ms, p99 32 / 74 ms; the ceiling 7,700, 8, 13
    assert "2.29x (0.40x, 0.43x) pytriton" in rows[("| kerasserve", "best peer")]
    assert "0.42x (2.25x, 2.46x) |" in rows[("| kerasserve", "ceiling")]
    assert "0.60x (1.50x, 2.00x) |" in rows[("| kerasserve-2w", "ceiling")]
    # c=1: the best peer by throughput is the naive app
    assert "1.50x (0.67x, 0.67x) fastapi-naive" in rows[("| kerasserve", "best peer")]


def test_summary_lists_ours_then_the_ceiling_then_peers_by_c64_throughput() -> None:
    lines = report.summary(issue12_run()).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        "| kerasserve (1 worker)",
        "| kerasserve-2w (2 workers)",
        "| fastapi-empty (ceiling, no model)",
        "| pytriton",
        "| litserve",
        "| fastapi-naive",
    ]
    assert lines[2] == "| kerasserve (1 worker) | 0.83 | 3,200 | 32.0 |"


def test_issue12_floors_as_measured_in_the_issue() -> None:
    assert _verdicts(issue12_run()) == {
        "c=64 throughput >= 1.2x best peer": True,  # 2.29x pytriton
        "c=64 p99 <= 2x best peer's": True,
        "c=64 throughput >= 3x naive FastAPI": True,
        "c=1 p50 within 1.2x naive FastAPI": True,
        "c=256 no errors, no timeouts, memory flat": None,  # c=256 not run
        "c=1 p50 <= 0.50 ms": False,  # 0.83 ms
        "c=64 throughput >= 70% of the ceiling's": False,  # 42%
        "c=64 p99 <= 2x the ceiling's": False,  # 2.46x
        "c=64 with 2 workers: throughput >= the one-process ceiling's": False,  # 0.60x
    }


def test_issue12_floors_met_on_their_boundaries() -> None:
    points = [
        point("kerasserve", 1, 2000, 0.50, 1.0),
        point("kerasserve", 64, 7000, 10.0, 26.0),
        point("kerasserve-2w", 64, 10000, 8.0, 20.0),
        point("fastapi-empty", 64, 10000, 6.0, 13.0),
        point("kerasserve", 256, 7000, 30.0, 60.0),
    ]
    verdicts = _verdicts(points)
    assert verdicts["c=1 p50 <= 0.50 ms"] is True
    assert verdicts["c=64 throughput >= 70% of the ceiling's"] is True
    assert verdicts["c=64 p99 <= 2x the ceiling's"] is True
    assert verdicts["c=64 with 2 workers: throughput >= the one-process ceiling's"] is True
    assert verdicts["c=256 no errors, no timeouts, memory flat"] is True
    assert verdicts["c=64 throughput >= 1.2x best peer"] is None  # no peer in this run
    points[1] = point("kerasserve", 64, 6990, 10.0, 26.1)
    verdicts = _verdicts(points)
    assert verdicts["c=64 throughput >= 70% of the ceiling's"] is False
    assert verdicts["c=64 p99 <= 2x the ceiling's"] is False


def test_a_failed_ceiling_leaves_its_floors_unmeasured_not_met() -> None:
    points = [p for p in issue12_run() if p["server"] != "fastapi-empty"]
    points.append(point("fastapi-empty", 64, 0, 0, 0, note="failed: no successful response"))
    floors = {floor.name: floor for floor in report.floors(points)}
    floor = floors["c=64 p99 <= 2x the ceiling's"]
    assert (floor.met, floor.verdict, floor.detail) == (
        None,
        "not measured",
        "no fastapi-empty c=64",
    )
    assert "| ceiling |" not in report.ratios(points)
    section = report.section(points, "## Latest run")
    assert "- not measured: c=64 p99 <= 2x the ceiling's (no fastapi-empty c=64)" in section
    assert "- NOT met: c=1 p50 <= 0.50 ms (0.83 ms)" in section
    assert "- met: c=64 throughput >= 1.2x best peer" in section


def test_report_command_regenerates_the_page_from_stored_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    page = docs / "benchmarks.md"
    page.write_text(
        f"# Benchmarks\n\nmethod text\n\n{report.BEGIN}\nold run\n{report.END}\n\ntail\n"
    )
    results = tmp_path / "results.json"
    results.write_text(json.dumps(issue12_run()))
    monkeypatch.setattr(run, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["bench", "report", str(results)])
    assert cli.main() == 0
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nmethod text\n\n") and text.endswith("\n\ntail\n")
    assert "old run" not in text
    assert "### Ratios, ours / best peer and ours / ceiling" in text
    assert "2.29x (0.40x, 0.43x) pytriton" in text
    assert "- NOT met: c=1 p50 <= 0.50 ms (0.83 ms; fastapi-empty 0.21 ms)" in text
    assert (docs / "benchmarks.png").stat().st_size > 0
