"""Where batches run: on the event loop when the model's own time for their size is
under the hop to a thread, else on an inference thread; and how that time is known."""

import asyncio
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from numpy.typing import NDArray

from service.runtime.batcher import DynamicBatcher
from service.runtime.loader import load_version
from service.runtime.placement import Placement
from service.runtime.tensors import TensorInfo
from service.runtime.warmup import time_batches
from tests.fakes.runtime import FakeModel, fast_settings, rows
from tests.service.runtime.conftest import publish
from tests.service.runtime.test_batcher_inline import ThreadRecordingModel

FAST_S, SLOW_S, LIMIT_S = 1e-5, 1.0, 1e-3


def test_a_slow_thread_measurement_only_fills_in_a_size_the_loop_has_not_measured():
    placement = Placement(fast_settings(inline_batch_max_s=LIMIT_S), {4: FAST_S})
    placement.record(4, SLOW_S, on_loop=False)  # a call slowed by waiting for the lock
    assert placement.seconds(4) == FAST_S and placement.batch_on_loop(4)
    placement.record(8, SLOW_S, on_loop=False)  # never measured: the thread's time it is
    assert placement.seconds(8) == SLOW_S and not placement.batch_on_loop(8)
    for _ in range(30):  # the model really got slower: its runs on the loop say so
        placement.record(4, SLOW_S, on_loop=True)
    assert not placement.batch_on_loop(4)
    assert not placement.batch_on_loop(2)  # never measured: the thread first


def test_one_slow_call_on_the_loop_does_not_push_a_fast_model_off_it():
    usual = 0.6 * LIMIT_S
    placement = Placement(fast_settings(inline_batch_max_s=LIMIT_S), {64: usual})
    placement.record(64, 50 * usual, on_loop=True)  # descheduled in the middle of the call
    assert placement.seconds(64) == pytest.approx(1.2 * usual)
    assert placement.batch_on_loop(64)


def test_a_thread_measurement_below_the_estimate_brings_it_down():
    placement = Placement(fast_settings(inline_batch_max_s=LIMIT_S), {64: 3 * LIMIT_S})
    for _ in range(30):  # the lock only adds to a thread's time: the estimate was high
        placement.record(64, 0.5 * LIMIT_S, on_loop=False)
    assert placement.seconds(64) == pytest.approx(0.5 * LIMIT_S, rel=0.05)
    assert placement.batch_on_loop(64)


def test_the_limits_are_the_settings_and_zero_turns_them_off():
    measured = {1: FAST_S, 2: FAST_S}
    assert Placement(fast_settings(idle_inline_max_s=LIMIT_S), measured).lone_row_on_loop()
    assert not Placement(fast_settings(idle_inline_max_s=0.0), measured).lone_row_on_loop()
    assert not Placement(fast_settings(inline_batch_max_s=0.0), measured).batch_on_loop(2)


def _run(scenario: Any, model: FakeModel, measured: dict[int, float], **overrides: Any) -> Any:
    settings = fast_settings(inline_batch_max_s=LIMIT_S, **overrides)

    async def main() -> Any:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(
                model, settings, pool, name="fake", version=1, measured=measured
            )
            batcher.start()
            try:
                return await scenario(batcher)
            finally:
                await batcher.close()

    return asyncio.run(main())


async def _burst(batcher: DynamicBatcher, **flags: bool) -> int:
    """Three callers in one turn, as gRPC calls in company; checks their answers."""
    futures = [batcher.submit(rows(float(value)), 1, 10, **flags) for value in range(3)]
    for value, future in enumerate(futures):
        assert (await future)["total"].tolist() == [value * 3.0]
    return threading.get_ident()


@pytest.mark.parametrize(("seconds", "on_loop"), [(FAST_S, True), (SLOW_S, False)])
def test_a_batch_runs_on_the_loop_only_when_its_size_was_measured_fast(seconds, on_loop):
    model = ThreadRecordingModel()
    loop_thread = _run(lambda batcher: _burst(batcher, in_company=True), model, {4: seconds})
    assert model.sizes == [4]  # one batch: three rows padded to four
    assert (model.threads == [loop_thread]) is on_loop


def test_a_batch_holding_an_off_loop_request_runs_on_a_thread():
    model = ThreadRecordingModel()
    loop_thread = _run(lambda batcher: _burst(batcher, off_loop=True), model, {4: FAST_S})
    assert model.sizes == [4] and loop_thread not in model.threads


def test_a_caller_in_company_queues_where_a_lone_one_runs_at_once():
    async def scenario(batcher: DynamicBatcher) -> list[bool]:
        alone = batcher.submit(rows(1.0), 1, 10)
        await alone
        await asyncio.sleep(0)  # a later turn of the loop
        in_company = batcher.submit(rows(2.0), 1, 10, in_company=True)
        done = [alone.done(), in_company.done()]
        await in_company
        return done

    measured = {1: FAST_S}
    assert _run(scenario, FakeModel(), measured, idle_inline_max_s=LIMIT_S) == [True, False]


def test_time_batches_stops_after_the_first_size_too_slow_for_the_loop():
    calls: list[int] = []

    def predict(inputs: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        size = len(inputs["x"])
        calls.append(size)
        time.sleep(0.01 if size >= 4 else 0.0)
        return {}

    seconds = time_batches(predict, {"x": TensorInfo("float32", (None, 3))}, (8, 1, 4, 2))
    assert list(seconds) == [1, 2, 4]  # smallest first; 8 never timed
    assert seconds[4] >= 0.01 > seconds[1]
    assert calls == [1, 1, 1, 2, 2, 2, 4, 4, 4]


def test_a_loaded_model_knows_its_own_time_per_batch_size(tmp_path, zoo):
    loaded = load_version(publish(zoo["tiny_classifier"], tmp_path, "m", 1), "/CPU:0", (1, 4, 8))
    assert set(loaded.batch_seconds) <= {1, 4, 8} and 1 in loaded.batch_seconds
    assert all(0.0 < seconds < 10.0 for seconds in loaded.batch_seconds.values())
