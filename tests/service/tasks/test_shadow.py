"""Shadow traffic: answers only from the primary, agreement per row, failures kept apart."""

import asyncio
import json
import time
from collections.abc import Mapping

import numpy as np
import pytest

from service.runtime.shadow import (
    ShadowJob,
    ShadowPlan,
    ShadowRecord,
    ShadowRunner,
    agreeing_rows,
)
from service.runtime.versions_file import parse_versions_file
from service.server.request_context import RequestContext
from service.server.services import Lifecycle
from service.tasks.resolver import ModelResolver
from service.tasks.shadow import ShadowedModel
from tests.fakes.models import FakeModel, FakeRepository, fake_classifier, fake_forecaster
from tests.fakes.rollout import RecordingRolloutObserver, install_rollout

SHADOW_ALL = {"version_labels": {"stable": 1}, "shadow": {"version": 2, "percent": 100}}


def brightness(rows: int) -> dict[str, np.ndarray]:
    """Rows whose fake class is 0..9 in turn (the fake classifies by mean brightness)."""
    levels = (np.arange(rows) % 10 + 0.5) / 10
    return {"images": np.broadcast_to(levels[:, None, None, None], (rows, 28, 28, 1)).copy()}


def contrarian(version: int) -> FakeModel:
    """A deliberately different classifier: class 9 - the fake's on every row."""
    model = fake_classifier(version=version)
    honest = model.run

    def run(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: value[:, ::-1].copy() for name, value in honest(inputs).items()}

    model.run = run
    return model


class SlowModel(FakeModel):
    async def infer(self, inputs, **options):
        await asyncio.sleep(1.0)
        return await super().infer(inputs, **options)


def slow_classifier(version: int) -> SlowModel:
    base = fake_classifier(version=version)
    return SlowModel(**{name: getattr(base, name) for name in base.__dataclass_fields__})


async def _answer(repo: FakeRepository, rows: int, observer: RecordingRolloutObserver):
    rollout = install_rollout(repo, "clf", SHADOW_ALL, observer=observer)
    model = ModelResolver(repo, Lifecycle(), RequestContext("t"), {}).resolve("clf", label="stable")
    assert isinstance(model, ShadowedModel)
    started = time.perf_counter()
    outputs = await model.infer(brightness(rows), trusted=True)
    seconds = time.perf_counter() - started
    while rollout.runner.pending:
        await asyncio.sleep(0.01)
    return outputs, seconds, rollout


@pytest.mark.parametrize(
    ("shadow", "outcome"),
    [(fake_classifier(version=2), "agree"), (contrarian(2), "disagree")],
)
def test_answers_come_from_the_primary_and_agreement_is_counted_per_row(shadow, outcome):
    primary = fake_classifier(version=1)
    repo = FakeRepository(primary, shadow)
    observer = RecordingRolloutObserver()
    outputs, _, rollout = asyncio.run(_answer(repo, 64, observer))
    expected = primary.run(brightness(64))
    np.testing.assert_array_equal(outputs["probabilities"], expected["probabilities"])
    assert len(primary.calls) == 1 and len(shadow.calls) == 1
    assert primary.off_loop_calls == [False]  # the shadow's compute stays off the loop
    assert shadow.off_loop_calls == [True]
    assert observer.rows(outcome) == 64 and observer.rows("error") == 0
    assert rollout.shadows.agreement() == (1.0 if outcome == "agree" else 0.0)
    report = rollout.shadows.report()
    assert report["rows"] == [{"primary": 1, "shadow": 2, "agree": 64 * (outcome == "agree"),
                               "disagree": 64 * (outcome == "disagree"), "error": 0}]  # fmt: skip
    if outcome == "disagree":
        sample = report["disagreements"][0]
        assert sample["primary"]["label"] != sample["shadow"]["label"]
        assert len(sample["input_digest"]) == 16
    else:
        assert report["disagreements"] == []


def test_a_failing_shadow_never_shows_in_the_primary_answer():
    shadow = fake_classifier(version=2)
    shadow.error = RuntimeError("the shadow broke")
    repo = FakeRepository(fake_classifier(version=1), shadow)
    observer = RecordingRolloutObserver()
    outputs, _, _ = asyncio.run(_answer(repo, 3, observer))
    assert outputs["probabilities"].shape == (3, 10)
    assert observer.rows("error") == 3 and observer.rows("agree") == 0


def test_a_slow_shadow_never_shows_in_the_primary_latency():
    repo = FakeRepository(fake_classifier(version=1), slow_classifier(2))
    observer = RecordingRolloutObserver()
    _, seconds, _ = asyncio.run(_answer(repo, 2, observer))
    assert seconds < 0.5  # the shadow takes a second
    assert observer.rows("agree") == 2 and observer.ran[0][2] >= 1.0


def test_forecasters_agree_within_the_tolerance():
    plan = ShadowPlan("fc", 1, 2, run=None, top1_output=None, labels=(), tolerance=0.01,  # type: ignore[arg-type]
                      record=ShadowRecord())  # fmt: skip
    job = ShadowJob(plan, {"series": np.ones((2, 4))}, {"forecast": np.array([[100.0], [100.0]])})
    rows = agreeing_rows(job, {"forecast": np.array([[100.9], [101.1]])})
    assert rows.tolist() == [True, False]


def test_forecasters_are_shadowed_through_the_resolver():
    shifted = fake_forecaster(version=2)
    last = lambda inputs: inputs["series"][:, -1:].repeat(3, axis=1)  # noqa: E731
    shifted.run = lambda inputs: {"forecast": last(inputs) * 1.5 + 1.0}  # the fake: last + 1
    repo = FakeRepository(fake_forecaster(version=1), shifted)
    observer = RecordingRolloutObserver()
    rollout = install_rollout(repo, "fc", {"shadow": {"version": 2}}, available=[1, 2],
                              observer=observer)  # fmt: skip

    async def main() -> None:
        model = ModelResolver(repo, Lifecycle(), RequestContext("t"), {}).resolve("fc", version=1)
        await model.infer({"series": np.array([[1, 2, 3, 4], [0, 0, 0, 0]], np.float32)})
        while rollout.runner.pending:
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert observer.rows("disagree") == 1 and observer.rows("agree") == 1  # a zero row agrees


def test_the_queue_sheds_only_when_full():
    observer = RecordingRolloutObserver()
    record = ShadowRecord()

    async def slow(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        await asyncio.sleep(0.2)
        return {"y": np.zeros((1, 1))}

    plan = ShadowPlan("m", 1, 2, slow, None, (), 0.01, record)

    def job() -> ShadowJob:
        return ShadowJob(plan, {"x": np.zeros((1, 1))}, {"y": np.zeros((1, 1))})

    async def main() -> tuple[list[bool], list[bool]]:
        runner = ShadowRunner(2, observer)
        one_at_a_time = []
        for _ in range(3):  # concurrency 1: each shadow call ends before the next
            one_at_a_time.append(runner.submit(job()))
            while runner.pending:
                await asyncio.sleep(0.01)
        burst = [runner.submit(job()) for _ in range(4)]
        await runner.close()
        return one_at_a_time, burst

    one_at_a_time, burst = asyncio.run(main())
    assert one_at_a_time == [True, True, True]
    assert burst == [True, True, False, False]
    assert record.shed == 2 and observer.shed == ["m", "m"]


def test_calls_that_end_together_reach_the_shadow_as_one_call():
    """Eight lone requests within the linger: one shadow call of their eight rows, each
    row compared with its own primary answer; a call of another shape goes alone."""
    primary, shadow = fake_classifier(version=1), contrarian(2)
    repo = FakeRepository(primary, shadow)
    observer = RecordingRolloutObserver()
    rollout = install_rollout(repo, "clf", SHADOW_ALL, observer=observer)

    async def main() -> None:
        resolver = ModelResolver(repo, Lifecycle(), RequestContext("t"), {})
        for row in range(8):  # one after another, as a lone client sends them
            inputs = {"images": brightness(10)["images"][row : row + 1]}
            await resolver.resolve("clf", label="stable").infer(inputs, trusted=True)
        small = {"images": np.full((1, 14, 14, 1), 0.5)}  # another layout: not stackable
        await resolver.resolve("clf", label="stable").infer(small, trusted=True)
        while rollout.runner.pending:
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert len(primary.calls) == 9
    assert sorted(len(next(iter(call.values()))) for call in shadow.calls) == [1, 8]
    assert observer.rows("disagree") == 8 + 1  # the contrarian differs on every row
    samples = rollout.shadows.report()["disagreements"]
    assert {sample["primary"]["index"] for sample in samples} >= set(range(8))
    for sample in samples:  # each row against its own primary answer
        assert sample["shadow"]["index"] == 9 - sample["primary"]["index"]


def test_a_group_is_sent_once_it_holds_max_rows():
    observer = RecordingRolloutObserver()
    record = ShadowRecord()
    sent: list[int] = []

    async def count(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        sent.append(len(inputs["x"]))
        return {"y": np.zeros((len(inputs["x"]), 1))}

    plan = ShadowPlan("m", 1, 2, count, None, (), 0.01, record)

    def job(rows: int) -> ShadowJob:
        return ShadowJob(plan, {"x": np.zeros((rows, 1))}, {"y": np.zeros((rows, 1))})

    async def main() -> None:
        runner = ShadowRunner(64, observer, max_rows=8, linger_s=60.0)
        for _ in range(5):
            runner.submit(job(3))  # 3 + 3 + 3 reach 8: sent; 3 + 3 wait for the linger
        await asyncio.sleep(0.05)
        assert sent == [9] and runner.pending == 2
        await runner.close()
        assert runner.pending == 0

    asyncio.run(main())


def test_a_pair_is_wrapped_once_per_table():
    """Requests reuse the pair's wrapper (nothing per request but the tensors); a new
    table (a version change, a new file) makes a new one."""
    repo = FakeRepository(fake_classifier(version=1), fake_classifier(version=2))
    rollout = install_rollout(repo, "clf", SHADOW_ALL)
    resolver = ModelResolver(repo, Lifecycle(), RequestContext("t"), {})
    first = resolver.resolve("clf", label="stable")
    assert resolver.resolve("clf", label="stable") is first
    looser = {**SHADOW_ALL, "shadow": {"version": 2, "percent": 100, "tolerance": 0.5}}
    rollout.accept(parse_versions_file(json.dumps(looser).encode()))
    rollout.refresh({1, 2})
    second = resolver.resolve("clf", label="stable")
    assert isinstance(second, ShadowedModel) and second is not first
    assert resolver.resolve("clf", label="stable") is second
