"""The batcher's inline runs: a lone request on an idle, fast model runs on the event
loop (no hop to a thread), unless the caller asks for a thread (off_loop)."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from service.runtime.batcher import DynamicBatcher
from tests.fakes.runtime import FakeModel, RecordingObserver, fast_settings, rows
from tests.service.runtime.test_batcher import hold_first_batch, run_batcher


class ThreadRecordingModel(FakeModel):
    """Remembers which thread ran each batch."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def __call__(self, inputs: Any) -> dict[str, Any]:
        self.threads.append(threading.get_ident())
        return super().__call__(inputs)


def test_a_lone_request_on_an_idle_fast_model_runs_on_the_loop_thread():
    model = ThreadRecordingModel()

    async def scenario(batcher: DynamicBatcher, model: FakeModel) -> int:
        for value in range(3):  # one-at-a-time callers, as at concurrency 1
            out = await batcher.submit(rows(float(value)), 1, 10)
            assert out["total"].tolist() == [float(value) * 3]
        return threading.get_ident()

    loop_thread = run_batcher(scenario, model, idle_inline_max_s=1.0)
    # The first call is timed in the executor; once measured fast, lone calls stay inline.
    assert model.threads[0] != loop_thread
    assert model.threads[1:] == [loop_thread, loop_thread]


def test_an_inline_answer_is_ready_when_submit_returns_and_is_observed():
    observer = RecordingObserver()

    async def scenario(batcher: DynamicBatcher, model: FakeModel) -> list[bool]:
        await batcher.submit(rows(1.0), 1, 10)  # measured in the pool first
        ready = []
        for value in (2.0, 3.0):
            await asyncio.sleep(0)  # a lone caller's next request comes in a later turn
            future = batcher.submit(rows(value), 1, 10)
            ready.append(future.done())
            assert (await future)["total"].tolist() == [value * 3]
        held = await hold_first_batch(batcher, model)  # a busy model queues instead
        queued = batcher.submit(rows(4.0), 1, 10)
        ready.append(queued.done())
        model.gate.set()
        await held, await queued
        return ready

    ready = run_batcher(scenario, observer=observer, idle_inline_max_s=1.0)
    assert ready == [True, True, False]
    assert observer.of("batch")[:3] == [("batch", 1, 1)] * 3
    assert [seconds for _, seconds in observer.of("wait")][1:3] == [0.0, 0.0]


def test_a_burst_in_one_turn_of_the_loop_is_batched_after_its_first_request():
    observer = RecordingObserver()

    async def scenario(batcher: DynamicBatcher, model: FakeModel) -> list[bool]:
        await batcher.submit(rows(1.0), 1, 10)  # measured in the pool first
        await asyncio.sleep(0)
        assert batcher.submit(rows(2.0), 1, 10).done()  # a lone caller: at once
        await asyncio.sleep(0)
        burst = [batcher.submit(rows(float(value)), 1, 10) for value in range(5)]  # one turn
        ready = [future.done() for future in burst]
        answers = [await future for future in burst]
        assert [answer["total"].tolist() for answer in answers] == [[v * 3.0] for v in range(5)]
        return ready

    ready = run_batcher(scenario, observer=observer, idle_inline_max_s=1.0)
    assert ready == [True, False, False, False, False]
    assert [size for _, size, _ in observer.of("batch")] == [1, 1, 1, 4]


def test_off_loop_calls_run_on_a_thread_even_on_an_idle_fast_model():
    model = ThreadRecordingModel()

    async def scenario(batcher: DynamicBatcher, model: FakeModel) -> int:
        await batcher.submit(rows(1.0), 1, 10)  # measured in the pool first
        for value in (2.0, 3.0):  # lone callers that would run inline
            await asyncio.sleep(0)
            out = await batcher.submit(rows(value), 1, 10, off_loop=True)
            assert out["total"].tolist() == [value * 3]
        await asyncio.sleep(0)
        await batcher.submit(rows(4.0), 1, 10)  # and the next ordinary one still does
        return threading.get_ident()

    loop_thread = run_batcher(scenario, model, idle_inline_max_s=1.0)
    assert loop_thread not in model.threads[:3]
    assert model.threads[3] == loop_thread


def test_inline_runs_are_off_when_the_limit_is_zero():
    model = ThreadRecordingModel()

    async def scenario(batcher: DynamicBatcher, model: FakeModel) -> int:
        for value in range(3):
            await batcher.submit(rows(float(value)), 1, 10)
        return threading.get_ident()

    loop_thread = run_batcher(scenario, model, idle_inline_max_s=0.0)
    assert loop_thread not in model.threads


HOP_S = 0.5  # a hand-over slower than any busy machine's, ...
INLINE_LIMIT_S = 0.1  # ... and a limit no call of the fake model comes near, loaded or not


class SlowHopExecutor(ThreadPoolExecutor):
    """A pool whose hand-over takes ``HOP_S``, as on a (very) busy machine."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        def late() -> Any:
            time.sleep(HOP_S)
            return fn(*args, **kwargs)

        return super().submit(late)


def test_a_slow_hop_to_the_thread_does_not_count_as_model_time():
    model = ThreadRecordingModel()

    async def main() -> int:
        with SlowHopExecutor(1) as pool:
            settings = fast_settings(idle_inline_max_s=INLINE_LIMIT_S)
            batcher = DynamicBatcher(model, settings, pool, name="fake", version=1)
            batcher.start()
            try:
                for value in range(3):
                    await batcher.submit(rows(float(value)), 1, 10)
            finally:
                await batcher.close()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert model.threads[0] != loop_thread  # measured once in the pool: slow hop, fast call
    assert model.threads[1:] == [loop_thread, loop_thread]
