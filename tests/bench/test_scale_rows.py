"""The fault table: a noisy goodput miss is measured again; anything else fails the run."""

from bench.scale.__main__ import _only_goodput_missed
from bench.scale.faults import GOODPUT_PROBLEM
from bench.scale.report import Counts, Row, table


def _row(*problems: str) -> Row:
    counts = Counts(10, 10, 0, 0, {"200": 10}, 1.0, 0.1, 0.1)
    return Row("2,000 connections", counts, "", list(problems))


def test_only_a_goodput_miss_is_measured_again():
    assert _only_goodput_missed([_row(), _row(GOODPUT_PROBLEM), _row()])
    assert not _only_goodput_missed([_row(), _row()])
    assert not _only_goodput_missed([_row(GOODPUT_PROBLEM, "a request took 11 s")])
    assert not _only_goodput_missed([_row(GOODPUT_PROBLEM), _row("3 requests failed")])


def test_a_remeasured_row_stays_in_the_table_without_failing_the_run():
    first = _row(GOODPUT_PROBLEM)
    first.remeasured = True
    second = _row(GOODPUT_PROBLEM)
    assert first.passed and not second.passed
    text = table([first, second])
    assert "| re-measured |" in text and "| FAIL |" in text
    assert f"noisy, measured again below: {GOODPUT_PROBLEM}" in text
