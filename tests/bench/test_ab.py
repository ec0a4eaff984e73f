"""bench.ab's rollout scenarios: the directory each one serves, read by the service;
its report, and a base side run with settings of its own."""

import argparse
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench import ab, wrk
from bench.ab import ROLLOUTS, TARGETS, Side, models_dir
from service.runtime.discovery import is_complete, scan
from service.runtime.versions_file import parse_versions_file
from tests.service.api.live import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("scenario", sorted(ROLLOUTS))
def test_a_rollout_scenario_serves_two_copies_of_fashion_mlp_and_its_file(scenario, tmp_path):
    side = Side("base", REPO)
    models = models_dir(side, scenario, tmp_path)
    assert models_dir(side, scenario, tmp_path) == models  # built once, then reused
    found = scan(models, None)
    assert sorted(found) == [("fashion_mlp", 1), ("fashion_mlp", 2)]
    assert all(is_complete(files) for _, files in found.values())
    original = REPO / "models" / "fashion_mlp" / "1" / "saved_model.pb"
    for version in (1, 2):
        copy = models / "fashion_mlp" / str(version) / "saved_model.pb"
        assert copy.read_bytes() == original.read_bytes()  # the same model twice
    file = models / "fashion_mlp" / "versions.json"
    if ROLLOUTS[scenario] is None:
        assert not file.exists()
    else:
        config = parse_versions_file(file.read_bytes())
        assert config.named_versions() == {1, 2}
        assert json.loads(file.read_text()) == ROLLOUTS[scenario]
    assert TARGETS[scenario] == TARGETS["mlp"]


def test_other_scenarios_serve_the_sides_committed_models(tmp_path):
    assert models_dir(Side("base", REPO), "mlp", tmp_path) == REPO / "models"
    assert list(tmp_path.iterdir()) == []


def test_a_worktree_is_named_by_its_commit_so_a_moving_name_never_gives_a_stale_one(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(ab, "WORKTREES", tmp_path / "trees")
    head = _git(REPO, "rev-parse", "HEAD")

    tree = ab.checkout("HEAD")
    try:
        assert tree.name == head[:12]
        assert _git(tree, "rev-parse", "HEAD") == head
        assert ab.checkout(head) == tree  # the same commit by another name: reused
    finally:
        _git(REPO, "worktree", "remove", "--force", str(tree))


def _git(where: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(where), *args], check=True, capture_output=True)
    return done.stdout.decode().strip()


def _measured(rps: float, us_per_answer: float) -> ab.Measured:
    result = wrk.WrkResult(
        requests=int(rps * 10), seconds=10, non_2xx=0, socket_errors=0, timeouts=0,
        p50_ms=1.0, p90_ms=2.0, p99_ms=3.0, max_ms=4.0,
    )  # fmt: skip
    return ab.Measured(result, us_per_answer)


def test_the_report_pairs_each_round_and_gives_the_cpu_per_answer():
    sides = [Side("base", REPO), Side("head", REPO)]
    # The machine slowed by half in round 2: the medians' ratio (1.25) is not the
    # rounds' own (1.05, 1.2, 1.25).
    results = {
        ("base", "mlp c=64"): [_measured(1000, 200), _measured(500, 400), _measured(800, 210)],
        ("head", "mlp c=64"): [_measured(1050, 180), _measured(600, 360), _measured(1000, 190)],
    }
    row = ab.report(sides, ["mlp"], results).splitlines()[2].split(" | ")
    assert row[1:4] == ["800", "1,000", "1.250"]  # medians, and their ratio
    assert row[4] == "1.200"  # the median of the rounds' own ratios
    assert row[5:7] == ["210", "190"]  # server CPU per answer, each side's median


def test_a_base_setting_is_read_as_name_and_value():
    assert ab.setting("KERASSERVE_MAX_READING_CONNECTIONS=2048") == (
        "KERASSERVE_MAX_READING_CONNECTIONS",
        "2048",
    )
    assert ab.setting("KERASSERVE_API_KEY=a=b") == ("KERASSERVE_API_KEY", "a=b")
    for text in ("2048", "=2048"):
        with pytest.raises(argparse.ArgumentTypeError):
            ab.setting(text)


def test_a_side_is_served_with_its_own_settings(tmp_path):
    """The base side's settings reach its server: here an API key, which then guards
    classify on that side only."""
    models = tmp_path / "models"
    shutil.copytree(REPO / "models" / "fashion_mlp", models / "fashion_mlp")
    port = free_port()
    side = Side("base", REPO, (("KERASSERVE_API_KEY", "sesame"),))
    server = ab.serve(side, port, tmp_path / "server.log", 1, models, ("--grpc-port", "0"))
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/classify?model=fashion_mlp",
            data=(ab.DATA / "fashion.png").read_bytes(),
            headers={"Content-Type": "image/png"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 401
        request.add_header("Authorization", "Bearer sesame")
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    finally:
        server.stop()
