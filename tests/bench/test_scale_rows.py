"""The fault table: noisy ratios are measured again, reported floors never fail a row;
the canary row's probes expect what the service's split does, and its share is judged
from every worker's promise on."""

import json

from bench.scale.__main__ import _only_noisy_ratios_missed, _parse, plan_for
from bench.scale.faults import GOODPUT_PROBLEM, P99_PROBLEM
from bench.scale.faults.rollout import Flip, _require_versions, rollout_steps, route_key
from bench.scale.loadgen.records import Records
from bench.scale.report import Counts, Row, count, table
from service.runtime.rollout import ModelRollout
from service.runtime.shadow import ShadowRunner
from service.runtime.versions_file import parse_versions_file
from tests.fakes.rollout import RecordingRolloutObserver


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


def test_the_canary_rows_route_keys_reach_what_each_step_expects():
    """The row's probes lean on the service's split: its keys, its percentages."""
    old, new = 3, 4
    steps = rollout_steps(old, new, route_key(0.0, 0.5), route_key(0.95, 1.0))
    heard = RecordingRolloutObserver()
    for step in steps:
        rollout = ModelRollout("fashion_mlp", ShadowRunner(4, heard), heard)
        rollout.accept(parse_versions_file(json.dumps(step.document).encode()))
        rollout.refresh({old, new})
        assert {key: rollout.pick(key) for key in step.keys} == step.keys, step.name
        assert rollout.status()["split"] == step.split, step.name
    assert [step.keys for step in steps] == [
        dict.fromkeys(steps[0].keys, old),
        dict(zip(steps[0].keys, (old, new), strict=True)),
        dict.fromkeys(steps[0].keys, new),
    ]


def _canary_run(lagging_until: float) -> Records:
    """A run through the balancer, one answer per ms: v1 until the canary file (t=10 s),
    then every tenth answer from v2, except worker "api-w2"'s (every third answer) which
    serves v1 only until ``lagging_until``; v2 alone from the promotion (t=30 s) on."""
    records = Records(began_at=1000.0)
    replicas = ("api_1", "api_2", "api-w2")
    for n in range(45_000):
        at, replica = n / 1000, replicas[n % 3]
        lagging = replica == "api-w2" and at < lagging_until
        old = at < 10 or (at < 30 and (lagging or n // 3 % 10 != 0))
        records.add(at, 0.0005, 200, replica=replica, version=1 if old else 2)
    return records


def _judged(records: Records) -> Row:
    """The canary row's verdict: probes saw every replica follow 3 s after each write,
    and the polls promise every worker within ``budget`` (10 s)."""
    flip = Flip(
        marks={"canary": 1010.0, "promote": 1030.0},
        follow={"canary": {"api_1": 3.0, "api_2": 3.0, "api-w2": 3.0}},
    )
    row = Row("canary flip", count(records))
    _require_versions(row, records, flip, (1, 2), budget=10.0)
    return row


def test_a_worker_within_its_poll_does_not_count_against_the_canary_share():
    """A worker the probes did not reach may serve the old split until two polls from
    the write: the share is judged from then on, and each replica's share is shown."""
    row = _judged(_canary_run(lagging_until=19.9))
    assert row.passed, row.problems
    assert "10.0% of 10000 answers from v2" in row.detail
    assert "api-w2 10.0%" in row.detail


def test_a_worker_that_never_follows_the_canary_fails_the_row():
    row = _judged(_canary_run(lagging_until=30.0))
    assert not row.passed
    assert any(problem.startswith("canary share 6.7%") for problem in row.problems)
    assert "api-w2 0.0%" in row.detail
