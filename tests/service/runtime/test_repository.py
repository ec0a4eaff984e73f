import asyncio
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.runtime.errors import (
    ModelNotFoundError,
    ModelNotReadyError,
    ServiceStoppingError,
    VersionNotFoundError,
)
from service.runtime.repository import ModelRepository
from tests.fakes.runtime import RecordingObserver, fast_settings
from tests.service.runtime.conftest import publish

CLASSIFIER = "tiny_classifier"


def images(n: int) -> dict[str, Any]:
    return {"images": np.random.default_rng(n).random((n, 28, 28, 1), dtype=np.float32)}


def run_repo(models_dir: Path, scenario: Any, observer: Any = None, **overrides: Any) -> Any:
    settings = fast_settings(models_dir=models_dir, **overrides)

    async def main() -> Any:
        repository = ModelRepository(settings, observer, retire_grace_s=0.05)
        await repository.start()
        try:
            return await scenario(repository)
        finally:
            await repository.stop(drain_timeout_s=5)

    return asyncio.run(main())


async def until(condition: Any, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def states(repository: ModelRepository, name: str = CLASSIFIER) -> dict[int, str]:
    return {status.version: status.state for status in repository.statuses(name)}


def test_start_serves_the_latest_version_of_every_family(tmp_path, zoo):
    for name, source in zoo.items():
        publish(source, tmp_path, name, 1)
    publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 2)

    async def scenario(repository):
        assert repository.ready and repository.live
        assert repository.names() == sorted(zoo)
        assert states(repository) == {1: "END", 2: "AVAILABLE"}  # v1 listed, not served
        classifier = repository.get(CLASSIFIER)
        probabilities = (await classifier.infer(images(3)))["probabilities"]
        forecast = await repository.get("tiny_forecaster").infer({"series": np.ones((2, 12))})
        drawn = await repository.get("tiny_generator").infer(
            {"noise": np.zeros((5, 8)), "labels": np.arange(5)}
        )
        return classifier, probabilities, forecast["forecast"], drawn["images"], repository

    classifier, probabilities, forecast, drawn, repository = run_repo(tmp_path, scenario)
    assert (classifier.version, classifier.device, classifier.task) == (2, "/CPU:0", "classify")
    assert classifier.spec.classify.labels[0] == "T-shirt/top"
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert forecast.shape == (2, 3) and drawn.shape == (5, 28, 28, 1)
    assert repository.device_info()["device"] == "/CPU:0"
    assert {status.state for status in repository.statuses()} == {"END"}


def test_policies_all_and_specific(tmp_path, zoo):
    for version in (1, 2, 3):
        publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, version)

    async def check_all(repository):
        assert states(repository) == {1: "AVAILABLE", 2: "AVAILABLE", 3: "AVAILABLE"}
        assert repository.get(CLASSIFIER).version == 3
        assert repository.get(CLASSIFIER, 1).version == 1

    async def check_specific(repository):
        assert states(repository) == {1: "AVAILABLE", 2: "AVAILABLE", 3: "END"}
        assert repository.get(CLASSIFIER).version == 2
        with pytest.raises(VersionNotFoundError):
            repository.get(CLASSIFIER, 3)
        with pytest.raises(ModelNotFoundError):
            repository.get("nope")
        assert repository.statuses("nope") == []

    run_repo(tmp_path, check_all, version_policy="all")
    pins = {CLASSIFIER: (1, 2)}
    run_repo(tmp_path, check_specific, version_policy="specific", pinned_versions=pins)


def test_signature_mismatch_is_refused_and_the_previous_version_serves(tmp_path, zoo):
    publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 1)
    card_path = publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 2) / "model_card.json"
    card = json.loads(card_path.read_text())
    card["inputs"]["images"]["shape"] = [None, 32, 32, 1]
    card_path.write_text(json.dumps(card))
    observer = RecordingObserver()

    async def scenario(repository):
        assert states(repository) == {1: "AVAILABLE", 2: "FAILED"}
        assert repository.get(CLASSIFIER).version == 1
        with pytest.raises(ModelNotReadyError, match="FAILED"):
            repository.get(CLASSIFIER, 2)
        return repository.statuses(CLASSIFIER)[1]

    failed = run_repo(tmp_path, scenario, observer)
    assert failed.error is not None and "signature does not match" in failed.error
    assert "[N, 32, 32, 1]" in failed.error and failed.card is not None
    assert [event[:3] for event in observer.of("failed")] == [("failed", CLASSIFIER, 2)]


def test_no_model_means_not_ready(tmp_path):
    async def scenario(repository):
        return repository.ready, repository.names()

    assert run_repo(tmp_path, scenario, model_names=(CLASSIFIER,)) == (False, [])


def test_foreign_and_incomplete_versions_are_refused_and_never_hold_readiness(tmp_path, zoo):
    publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 1)
    partial = tmp_path / CLASSIFIER / "2"
    partial.mkdir()
    shutil.copy(zoo[CLASSIFIER] / "saved_model.pb", partial)
    foreign = tmp_path / "foreign" / "1"
    foreign.mkdir(parents=True)
    (foreign / "model.h5").write_bytes(b"HDF")
    observer = RecordingObserver()

    async def scenario(repository):
        assert repository.ready
        await repository.poll_once()
        await repository.poll_once()
        return {(s.name, s.version): (s.state, s.error) for s in repository.statuses()}

    found = run_repo(tmp_path, scenario, observer)
    assert found[(CLASSIFIER, 1)] == ("AVAILABLE", None)
    assert found[(CLASSIFIER, 2)][0] == found[("foreign", 1)][0] == "FAILED"
    assert "saved_model.pb, variables/variables.index missing" in found[("foreign", 1)][1]
    failures = sorted(event[1:3] for event in observer.of("failed"))
    assert failures == [("foreign", 1), (CLASSIFIER, 2)]  # each once, not once per poll


def test_required_models_hold_readiness_until_they_are_available(tmp_path, zoo):
    publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 1)

    async def scenario(repository):
        before = repository.ready
        publish(zoo["tiny_forecaster"], tmp_path, "tiny_forecaster", 1)
        await repository.poll_once()
        await repository.poll_once()
        return before, repository.ready

    required = (CLASSIFIER, "tiny_forecaster")
    assert run_repo(tmp_path, scenario, required_models=required) == (False, True)


def test_a_version_without_a_card_is_read_from_its_signature(tmp_path, zoo):
    version = publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 1)
    (version / "model_card.json").unlink()
    (version / "labels.txt").write_text("\n".join(f"item {i}" for i in range(10)) + "\n")
    publish(zoo["tiny_forecaster"], tmp_path, "tiny_forecaster", 1)
    publish(zoo["tiny_forecaster"], tmp_path, "tiny_forecaster", 2)

    async def scenario(repository):
        handle = repository.get(CLASSIFIER)
        return handle.spec, {
            s.version: (s.state, s.error) for s in repository.statuses("tiny_forecaster")
        }

    spec, forecasters = run_repo(tmp_path, scenario)
    assert spec.task == "classify" and spec.classify is not None
    assert spec.classify.output == "probabilities" and spec.classify.scores == "probabilities"
    assert spec.classify.labels[9] == "item 9"
    assert spec.classify.image.resize == "stretch" and spec.classify.image.scale == "raw"
    assert forecasters == {
        1: ("END", "not served: version policy 'latest'"),
        2: ("AVAILABLE", None),
    }


def test_hot_reload_under_concurrent_load_fails_no_request(tmp_path, zoo):
    publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 1)
    served: list[int] = []
    errors: list[BaseException] = []
    stop = asyncio.Event

    async def client(repository, done):
        while not done.is_set():
            handle = repository.get(CLASSIFIER)
            try:
                out = await handle.infer(images(2))
                assert out["probabilities"].shape == (2, 10)
                served.append(handle.version)
            except BaseException as exc:  # every failure counts
                errors.append(exc)
            await asyncio.sleep(0)

    async def scenario(repository):
        done = stop()
        clients = [asyncio.ensure_future(client(repository, done)) for _ in range(6)]
        await until(lambda: len(served) >= 12)  # version 1 is under load
        publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 2)
        await repository.poll_once()  # first sighting: not settled yet
        assert 2 not in states(repository)
        await repository.poll_once()
        assert repository.get(CLASSIFIER).version == 2
        await until(lambda: states(repository)[1] == "END")
        retired = len(served)
        await until(lambda: len(served) >= retired + 12)  # and version 2 serves on
        done.set()
        await asyncio.gather(*clients)

    run_repo(tmp_path, scenario)
    assert errors == []
    assert 1 in served and 2 in served and served[-1] == 2


def test_a_version_is_loaded_only_once_complete_and_unchanged_for_two_polls(tmp_path, zoo):
    publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 1)
    target = tmp_path / CLASSIFIER / "2"

    async def scenario(repository):
        target.mkdir()
        shutil.copy(zoo[CLASSIFIER] / "saved_model.pb", target)
        await repository.poll_once()  # first seen: not settled yet, nothing said
        assert 2 not in states(repository)
        await repository.poll_once()  # settled but incomplete: refused, with the reason
        assert states(repository)[2] == "FAILED"
        assert "variables/variables.index missing" in (
            repository.statuses(CLASSIFIER)[1].error or ""
        )
        shutil.copytree(zoo[CLASSIFIER] / "variables", target / "variables")
        shutil.copy(zoo[CLASSIFIER] / "model_card.json", target)
        with (target / "variables" / "variables.data-00000-of-00001").open("ab") as data:
            await repository.poll_once()  # complete but just changed
            data.write(b"")  # still open: a copier may be writing
        assert states(repository) == {1: "AVAILABLE", 2: "FAILED"}
        await repository.poll_once()
        await until(lambda: states(repository)[1] == "END")
        return states(repository)

    assert run_repo(tmp_path, scenario) == {1: "END", 2: "AVAILABLE"}


def test_growing_file_blocks_the_load_until_it_stops(tmp_path, zoo):
    publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 1)
    target = tmp_path / CLASSIFIER / "2"

    async def scenario(repository):
        shutil.copytree(zoo[CLASSIFIER], target)
        extra = target / "variables" / "variables.data-00000-of-00001"
        blob = extra.read_bytes()
        extra.write_bytes(blob[: len(blob) // 2])
        await repository.poll_once()
        extra.write_bytes(blob)  # the copy finishes between polls
        await repository.poll_once()
        assert 2 not in states(repository)
        await repository.poll_once()
        await until(lambda: states(repository)[1] == "END")
        return states(repository)

    assert run_repo(tmp_path, scenario) == {1: "END", 2: "AVAILABLE"}


def test_broken_version_fails_old_keeps_serving_retried_only_when_changed(tmp_path, zoo):
    publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 1)
    observer = RecordingObserver()

    async def scenario(repository):
        target = tmp_path / CLASSIFIER / "2"
        shutil.copytree(zoo[CLASSIFIER], target)
        (target / "saved_model.pb").write_bytes(b"not a graph")
        for _ in range(4):
            await repository.poll_once()
        assert states(repository) == {1: "AVAILABLE", 2: "FAILED"}
        out = await repository.get(CLASSIFIER).infer(images(1))
        assert len(observer.of("failed")) == 1  # unchanged files: no retry
        shutil.copy(zoo[CLASSIFIER] / "saved_model.pb", target)
        await repository.poll_once()
        await repository.poll_once()
        await until(lambda: states(repository)[1] == "END")
        return out, states(repository)

    out, final = run_repo(tmp_path, scenario, observer)
    assert out["logits"].shape == (1, 10)
    assert final == {1: "END", 2: "AVAILABLE"}


def test_removed_version_is_unloaded_only_after_its_requests_finish(tmp_path, zoo):
    for version in (1, 2):
        publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, version)
    gate, entered = threading.Event(), threading.Event()

    async def scenario(repository):
        old = repository.get(CLASSIFIER, 1)
        real_predict = old._batcher._predict

        def held(inputs):
            entered.set()
            gate.wait(10)
            return real_predict(inputs)

        old._batcher._predict = held
        call = asyncio.ensure_future(old.infer(images(3)))
        await until(entered.is_set)
        shutil.rmtree(tmp_path / CLASSIFIER / "1")
        await repository.poll_once()
        assert repository.get(CLASSIFIER).version == 2
        assert repository.get(CLASSIFIER, 1) is old  # callers racing the swap: grace
        await until(lambda: not old.accepting)  # the grace (0.05 s) is over
        assert states(repository)[1] == "UNLOADING"
        with pytest.raises(ModelNotReadyError):
            repository.get(CLASSIFIER, 1)
        with pytest.raises(ModelNotReadyError, match="unloaded"):
            await old.infer(images(1))
        gate.set()
        out = await call
        await until(lambda: states(repository)[1] == "END")
        with pytest.raises(VersionNotFoundError):
            repository.get(CLASSIFIER, 1)
        return out

    out = run_repo(tmp_path, scenario, version_policy="all")
    assert out["probabilities"].shape == (3, 10)


def test_stop_answers_queued_requests_then_refuses_new_ones(tmp_path, zoo):
    publish(zoo[CLASSIFIER], tmp_path, CLASSIFIER, 1)
    observer = RecordingObserver()

    async def main():
        repository = ModelRepository(fast_settings(models_dir=tmp_path), observer)
        await repository.start()
        handle = repository.get(CLASSIFIER)
        calls = [asyncio.ensure_future(handle.infer(images(1))) for _ in range(40)]
        await asyncio.sleep(0)  # every call is queued
        await repository.stop(drain_timeout_s=10)
        results = await asyncio.gather(*calls)
        with pytest.raises(ServiceStoppingError):
            await handle.infer(images(1))
        with pytest.raises(ServiceStoppingError):
            repository.get(CLASSIFIER)
        return results, repository

    results, repository = asyncio.run(main())
    assert len(results) == 40 and all(r["logits"].shape == (1, 10) for r in results)
    assert not repository.ready and not repository.live
    assert states(repository) == {1: "END"}
    assert ("rejected", "stopping") in observer.events
