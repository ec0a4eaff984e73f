"""The fault table: noisy ratios are measured again, reported floors never fail a row."""

from bench.scale.__main__ import _only_noisy_ratios_missed, _parse, plan_for
from bench.scale.faults import GOODPUT_PROBLEM, P99_PROBLEM
from bench.scale.report import Counts, Row, table


def _row(*problems: str) -> Row:
    counts = Counts(10, 10, 0, 0, {"200": 10}, 1.0, 0.1, 0.1)
    return Row("2,000 connections", counts, "", list(problems))


def test_only_noisy_ratio_misses_are_measured_again():
    assert _only_noisy_ratios_missed([_row(), _row(GOODPUT_PROBLEM), _row()])
    assert _only_noisy_ratios_missed([_row(P99_PROBLEM)])
    assert _only_noisy_ratios_missed([_row(GOODPUT_PROBLEM, P99_PROBLEM)])
    assert not _only_noisy_ratios_missed([_row(), _row()])
    assert not _only_noisy_ratios_missed([_row(GOODPUT_PROBLEM, "a request took 11 s")])
    assert not _only_noisy_ratios_missed([_row(GOODPUT_PROBLEM), _row("3 requests failed")])
    assert not _only_noisy_ratios_missed([_row(P99_PROBLEM, "2 normal requests failed")])


def test_a_remeasured_row_stays_in_the_table_without_failing_the_run():
    first = _row(GOODPUT_PROBLEM)
    first.remeasured = True
    second = _row(GOODPUT_PROBLEM)
    assert first.passed and not second.passed
    text = table([first, second])
    assert "| re-measured |" in text and "| FAIL |" in text
    assert f"noisy, measured again below: {GOODPUT_PROBLEM}" in text


def test_a_reported_floor_shows_in_the_table_without_failing_the_row():
    row = _row("3 requests failed")
    row.problems.clear()
    row.report(False, GOODPUT_PROBLEM)
    row.report(True, P99_PROBLEM)
    assert row.passed and row.reported == [GOODPUT_PROBLEM]
    assert f"reported, not enforced in this run: {GOODPUT_PROBLEM}" in table([row])
    assert row.to_json()["reported"] == [GOODPUT_PROBLEM]


def test_only_the_short_run_leaves_the_goodput_floor_unenforced():
    common = ["--compose-file", "c.yml", "--models-dir", "m", "--work", "w"]
    assert not plan_for(_parse(["--short", *common])).enforce_goodput_floor
    assert plan_for(_parse(common)).enforce_goodput_floor
