"""versions.json in the real repository: labels on older versions, pending labels, refusals."""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service.runtime.errors import VersionLabelPendingError
from service.runtime.repository import ModelRepository
from tests.fakes.rollout import RecordingRolloutObserver
from tests.fakes.runtime import RecordingObserver
from tests.service.runtime.conftest import publish
from tests.service.runtime.test_repository import CLASSIFIER, images, run_repo, states, until


@dataclass
class Observer(RecordingObserver, RecordingRolloutObserver):
    """Hears the runtime and the rollout, as `ServiceMetrics` does."""


def write(models_dir: Path, document: Any) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    (models_dir / CLASSIFIER / "versions.json").write_text(text)


def label(repository: ModelRepository, name: str) -> int:
    rollout = repository.rollout(CLASSIFIER)
    assert rollout is not None
    return rollout.label_version(name)


STABLE_CANARY = {"version_labels": {"stable": 1, "canary": 2}, "traffic": {"stable": 100}}


def test_labels_on_older_versions_load_and_serve_under_the_latest_policy(tmp_path, zoo):
    for version in (1, 2, 3):
        publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, version)
    write(tmp_path, STABLE_CANARY)

    async def scenario(repository):
        assert states(repository) == {1: "AVAILABLE", 2: "AVAILABLE", 3: "AVAILABLE"}
        assert (label(repository, "stable"), label(repository, "canary")) == (1, 2)
        rollout = repository.rollout(CLASSIFIER)
        assert {rollout.pick(None) for _ in range(50)} == {1}  # all traffic to stable
        out = await repository.get(CLASSIFIER, label(repository, "stable")).infer(images(2))
        write(tmp_path, {"version_labels": {"stable": 2}})  # v1 no longer named: unloaded
        await repository.poll_once()
        await until(lambda: states(repository)[1] == "END")
        return out, states(repository), repository.rollouts()

    out, final, rollouts = run_repo(tmp_path, scenario)
    assert out["probabilities"].shape == (2, 10)
    assert final == {1: "END", 2: "AVAILABLE", 3: "AVAILABLE"}
    assert rollouts[CLASSIFIER]["labels"] == {"stable": 2}


def test_a_label_on_a_version_still_loading_is_pending_then_serves(tmp_path, zoo):
    publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 1)
    write(tmp_path, {"version_labels": {"stable": 1}})

    async def scenario(repository):
        publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 2)  # not settled until the next poll
        write(tmp_path, {"version_labels": {"stable": 2, "canary": 2}})
        await repository.poll_once()
        assert label(repository, "stable") == 1  # its old target serves meanwhile
        with pytest.raises(VersionLabelPendingError):
            label(repository, "canary")
        assert repository.rollouts()[CLASSIFIER]["pending"] == ["canary"]
        await repository.poll_once()
        return label(repository, "stable"), label(repository, "canary")

    assert run_repo(tmp_path, scenario) == (2, 2)


REFUSED = [
    ("not json", '{"version_labels": '),
    ("unknown key", {"version_labels": {"stable": 1}, "weights": {}}),
    ("missing version", {"version_labels": {"stable": 9}}),
    ("failed version", {"version_labels": {"stable": 3}}),
    ("negative weight", {"version_labels": {"stable": 1}, "traffic": {"stable": -5}}),
    ("all zero", {"version_labels": {"stable": 1}, "traffic": {"stable": 0, "2": 0}}),
    ("weight on a missing version", {"traffic": {"1": 1, "7": 1}}),
]


def test_refused_files_of_every_kind_keep_the_previous_configuration(tmp_path, zoo):
    for version in (1, 2):
        publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, version)
    broken = tmp_path / CLASSIFIER / "3"
    shutil.copytree(zoo[CLASSIFIER], broken)
    (broken / "saved_model.pb").write_bytes(b"not a graph")
    write(tmp_path, STABLE_CANARY)
    observer = Observer()

    async def scenario(repository):
        assert states(repository)[3] == "FAILED"
        errors = {}
        for kind, document in REFUSED:
            write(tmp_path, document)
            for _ in range(2):  # refused once, logged and counted once
                await repository.poll_once()
            state = repository.rollouts()[CLASSIFIER]
            errors[kind] = state["error"]
            assert state["file"] == "refused", kind
            assert (label(repository, "stable"), label(repository, "canary")) == (1, 2), kind
            assert state["split"] == {"1": 100.0}, kind
        write(tmp_path, {"version_labels": {"stable": 2}})
        await repository.poll_once()
        return errors, repository.rollouts()[CLASSIFIER]

    errors, accepted = run_repo(tmp_path, scenario, observer)
    assert "not valid JSON" in errors["not json"]
    assert "unknown key 'weights'" in errors["unknown key"]
    assert "version 9 is named but not on disk" in errors["missing version"]
    assert "version 3 is named but FAILED" in errors["failed version"]
    assert "negative" in errors["negative weight"]
    assert "weight 0" in errors["all zero"]
    assert "version 7" in errors["weight on a missing version"]
    reasons = [reason for _, reason in observer.refusals]
    assert reasons == [*errors.values(), None]  # once each, then cleared
    assert accepted["file"] == "in force" and accepted["labels"] == {"stable": 2}
