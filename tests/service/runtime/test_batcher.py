import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from service.runtime.batcher import DynamicBatcher
from service.runtime.batches import collate
from service.runtime.errors import (
    DeadlineExceededError,
    InferenceError,
    QueueFullError,
    ServiceStoppingError,
)
from service.runtime.settings import RuntimeSettings
from tests.fakes.runtime import FakeModel, RecordingObserver, fast_settings, rows


def run_batcher(
    scenario: Callable[[DynamicBatcher, FakeModel], Awaitable[Any]],
    model: FakeModel | None = None,
    observer: RecordingObserver | None = None,
    **overrides: Any,
) -> Any:
    settings: RuntimeSettings = fast_settings(**overrides)
    model = model or FakeModel()

    async def main() -> Any:
        with ThreadPoolExecutor(settings.inference_threads) as pool:
            batcher = DynamicBatcher(
                model, settings, pool, name="fake", version=1, observer=observer
            )
            batcher.start()
            try:
                return await scenario(batcher, model)
            finally:
                model.gate.set()
                await batcher.close()

    return asyncio.run(main())


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.001)


async def hold_first_batch(batcher: DynamicBatcher, model: FakeModel) -> "asyncio.Future[Any]":
    """Submit one request and keep it running at the gate."""
    model.gate.clear()
    first = batcher.submit(rows(0.0), 1, 10)
    await until(model.entered.is_set)
    return first


def test_idle_model_dispatches_at_once_despite_a_long_delay():
    async def scenario(batcher, model):
        latencies = []
        for value in range(5):
            started = time.perf_counter()
            out = await batcher.submit(rows(value), 1, 10)
            latencies.append(time.perf_counter() - started)
            np.testing.assert_array_equal(out["double"], rows(value)["x"] * 2)
        return latencies

    latencies = run_batcher(scenario, max_queue_delay_s=5.0)
    assert max(latencies) < 1.0  # no 5 s wait for company


def test_requests_queued_during_a_batch_run_together_and_get_their_own_rows():
    model = FakeModel()

    async def scenario(batcher, model):
        first = await hold_first_batch(batcher, model)
        futures = [batcher.submit(rows(v, v + 0.5), 2, 10) for v in (1.0, 2.0, 3.0)]
        model.gate.set()
        return await first, await asyncio.gather(*futures)

    first, outputs = run_batcher(scenario, model)
    assert model.sizes == [1, 8]  # 6 rows padded to 8
    np.testing.assert_array_equal(model.batches[1][6], model.batches[1][5])  # last row repeated
    assert first["double"].shape == (1, 3)
    for value, out in zip((1.0, 2.0, 3.0), outputs, strict=True):
        np.testing.assert_array_equal(out["double"], rows(value, value + 0.5)["x"] * 2)
        np.testing.assert_array_equal(out["total"], [value * 3, (value + 0.5) * 3])


def test_batches_never_exceed_max_batch_size_and_use_padded_shapes():
    observer = RecordingObserver()

    async def scenario(batcher, model):
        first = await hold_first_batch(batcher, model)
        futures = [batcher.submit(rows(float(v)), 1, 10) for v in range(1, 12)]
        model.gate.set()
        await first
        return await asyncio.gather(*futures)

    outputs = run_batcher(scenario, observer=observer, max_batch_size=4, batch_sizes=(1, 2, 4))
    assert [out["total"][0] for out in outputs] == [3.0 * v for v in range(1, 12)]
    ran = observer.of("batch")
    assert sum(size for _, size, _ in ran) == 12
    assert all(size <= 4 and padded in (1, 2, 4) and padded >= size for _, size, padded in ran)
    assert len(observer.of("wait")) == 12


def test_waits_for_returning_callers_at_most_the_delay():
    delay = 1.0  # long beside a thread hop on any machine: waiting for it or not is clear

    async def scenario(batcher, model):
        first = await hold_first_batch(batcher, model)
        burst = [batcher.submit(rows(float(v)), 1, 10) for v in (1, 2, 3)]
        model.gate.set()
        await first
        await asyncio.gather(*burst)  # last batch held 3 requests
        started = time.perf_counter()
        alone = await batcher.submit(rows(9.0), 1, 10)  # 1 < 3: wait for the others...
        waited = time.perf_counter() - started
        started = time.perf_counter()
        pair = [batcher.submit(rows(v), 1, 10) for v in (7.0, 8.0)]  # ...now 2 >= 1
        await asyncio.gather(*pair)
        return alone, waited, time.perf_counter() - started

    alone, waited, quick = run_batcher(scenario, max_queue_delay_s=delay)
    assert alone["total"][0] == 27.0
    assert delay * 0.8 <= waited < delay + 1.0
    assert quick < delay * 0.8


def test_full_queue_is_refused_at_once_with_a_retry_hint():
    observer = RecordingObserver()

    async def scenario(batcher, model):
        first = await hold_first_batch(batcher, model)
        queued = [batcher.submit(rows(1.0, 2.0), 2, 10)]
        batcher.check_capacity()  # 2 rows queued < 3
        queued.append(batcher.submit(rows(3.0), 1, 10))
        with pytest.raises(QueueFullError) as refused:
            batcher.check_capacity()
        model.gate.set()
        await asyncio.gather(first, *queued)
        return refused.value

    refused = run_batcher(scenario, observer=observer, max_queue_size=3)
    assert refused.retry_after > 0
    assert ("rejected", "queue_full") in observer.events


def test_request_past_its_deadline_in_the_queue_fails_and_never_runs():
    observer = RecordingObserver()

    async def scenario(batcher, model):
        first = await hold_first_batch(batcher, model)
        late = batcher.submit(rows(5.0), 1, 0.05)
        ok = batcher.submit(rows(6.0), 1, 10)
        with pytest.raises(DeadlineExceededError):
            await late
        assert batcher.queued_rows == 1
        model.gate.set()
        await first
        return await ok

    model = FakeModel()
    out = run_batcher(scenario, model, observer=observer)
    assert out["total"][0] == 18.0
    assert not any((batch == 5.0).any() for batch in model.batches)
    assert ("rejected", "deadline") in observer.events


def test_each_queued_request_expires_at_its_own_deadline_in_any_order():
    async def scenario(batcher, model):
        first = await hold_first_batch(batcher, model)
        loop = asyncio.get_running_loop()
        started = loop.time()
        patient = batcher.submit(rows(1.0), 1, 10)
        later = batcher.submit(rows(2.0), 1, 1.0)
        sooner = batcher.submit(rows(3.0), 1, 0.1)  # queued last, due first
        expired_at = {}
        for name, future in (("sooner", sooner), ("later", later)):
            with pytest.raises(DeadlineExceededError):
                await future
            expired_at[name] = loop.time() - started
        assert not patient.done() and batcher.queued_rows == 1
        model.gate.set()
        await first
        return expired_at, await patient

    expired_at, out = run_batcher(scenario)
    # Each at its own deadline, not before it and well before the next one's (0.9 s apart).
    assert 0.1 <= expired_at["sooner"] < 0.6
    assert 1.0 <= expired_at["later"] < 1.5
    assert out["total"][0] == 3.0


def test_a_failed_batch_fails_every_request_in_it_and_the_next_batch_still_runs():
    model = FakeModel(fail_when=2.0)

    async def scenario(batcher, model):
        first = await hold_first_batch(batcher, model)
        doomed = [batcher.submit(rows(v), 1, 10) for v in (1.0, 2.0, 3.0)]
        model.gate.set()
        await first
        results = await asyncio.gather(*doomed, return_exceptions=True)
        return results, await batcher.submit(rows(4.0), 1, 10)

    results, after = run_batcher(scenario, model)
    assert all(isinstance(result, ValueError) for result in results)
    assert after["total"][0] == 12.0


def test_outputs_with_the_wrong_batch_length_are_an_inference_error():
    async def scenario(batcher, model):
        with pytest.raises(InferenceError, match="for a batch of 1 rows"):
            await batcher.submit(rows(1.0), 1, 10)

    run_batcher(scenario, FakeModel(short_by=1))


def test_cancelled_callers_are_skipped():
    async def scenario(batcher, model):
        first = await hold_first_batch(batcher, model)
        gone = batcher.submit(rows(5.0), 1, 10)
        kept = batcher.submit(rows(6.0), 1, 10)
        gone.cancel()
        model.gate.set()
        await first
        return await kept

    model = FakeModel()
    out = run_batcher(scenario, model)
    assert out["total"][0] == 18.0
    assert model.sizes == [1, 1]


def test_close_fails_what_is_still_queued():
    async def scenario(batcher, model):
        first = await hold_first_batch(batcher, model)
        queued = batcher.submit(rows(1.0), 1, 10)
        closing = asyncio.ensure_future(batcher.close())
        model.gate.set()
        await closing
        for future in (first, queued):
            with pytest.raises(ServiceStoppingError):
                await future

    run_batcher(scenario)


def test_collate_passes_a_single_unpadded_request_through_without_copying():
    x = rows(1.0, 2.0)["x"]
    assert collate([{"x": x}], 2, 2)["x"] is x
    padded = collate([{"x": x}, {"x": x[:1]}], 3, 4)["x"]
    np.testing.assert_array_equal(padded[:, 0], [1.0, 2.0, 1.0, 1.0])


def test_padded_and_warmup_sizes():
    settings = fast_settings(max_batch_size=6, batch_sizes=(1, 2, 4, 8))
    assert [settings.padded_size(n) for n in (1, 3, 5, 8, 9)] == [1, 4, 8, 8, 9]
    assert settings.warmup_sizes() == (1, 2, 4, 8)
    with pytest.raises(ValueError, match="strictly increasing"):
        fast_settings(batch_sizes=(4, 2))


class CountingPool(ThreadPoolExecutor):
    """A thread pool that counts the batches handed to it."""

    submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        self.submitted += 1
        return super().submit(*args, **kwargs)


def test_a_full_batch_queued_behind_a_running_one_needs_no_turn_of_the_loop():
    """The inference thread goes from the running batch to the next full one while the
    event loop is busy (here: blocked outright, as by a big upload's preparation). Rows
    that do not fill a batch wait for the loop, which may still add to them; once a full
    batch's worth is queued, the head of the queue goes (queue order is kept: the three
    rows first, the eight that do not fit beside them next)."""
    settings = fast_settings()
    model = FakeModel()

    async def main() -> None:
        with CountingPool(settings.inference_threads) as pool:
            batcher = DynamicBatcher(model, settings, pool, name="fake", version=1)
            batcher.start()
            try:
                first = await hold_first_batch(batcher, model)
                partial = batcher.submit(rows(9.0, 9.0, 9.0), 3, 10)
                assert pool.submitted == 1  # three rows of eight: they wait
                full = batcher.submit(rows(*range(1, 9)), 8, 10)
                assert pool.submitted == 2  # handed over while the first batch runs
                model.gate.set()
                deadline = time.monotonic() + 5
                while len(model.batches) < 2 and time.monotonic() < deadline:
                    time.sleep(0.001)  # the loop does not turn here
                assert model.sizes == [1, 4]  # the three rows, padded to four
                assert (await partial)["total"].tolist() == [27.0] * 3
                assert (await full)["total"].tolist() == [3.0 * v for v in range(1, 9)]
                assert model.sizes == [1, 4, 8]
                await first
            finally:
                model.gate.set()
                await batcher.close()

    asyncio.run(main())
