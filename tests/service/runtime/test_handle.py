import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from service.card import parse_card
from service.runtime.batcher import DynamicBatcher
from service.runtime.errors import InvalidInputError, ServiceStoppingError
from service.runtime.handle import ModelHandle
from service.runtime.loader import LoadedModel
from service.runtime.observer import NullObserver
from service.runtime.spec import resolve_spec
from service.runtime.tensors import TensorInfo
from tests.fakes.runtime import FakeModel, fast_settings

SPEC = {"x": TensorInfo("float32", (None, 3))}
OUTPUTS = {"double": TensorInfo("float32", (None, 3)), "total": TensorInfo("float32", (None,))}


def with_handle(scenario: Any, model: FakeModel | None = None) -> Any:
    settings = fast_settings(max_batch_size=4, batch_sizes=(1, 2, 4))
    model = model or FakeModel()
    spec = resolve_spec(parse_card({"task": "forecast"}), "serving_default", SPEC, OUTPUTS)
    loaded = LoadedModel(spec, model, "/CPU:0", 0.0)

    async def main() -> Any:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(model, settings, pool, name="fake", version=1)
            batcher.start()
            handle = ModelHandle(
                "fake",
                1,
                loaded,
                batcher,
                max_batch_size=4,
                request_timeout_s=5,
                observer=NullObserver(),
            )
            try:
                return await scenario(handle)
            finally:
                await handle.close()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "missing \\['x'\\]"),
        ({"x": np.zeros((1, 3)), "y": np.zeros(1)}, "unknown \\['y'\\]"),
        ({"x": np.zeros((1, 4))}, "'x' must be float32 \\[N, 3\\], got shape \\[1, 4\\]"),
        ({"x": np.zeros(3)}, "got shape \\[3\\]"),
        ({"x": np.zeros((0, 3))}, "at least one row"),
        ({"x": np.array([[1.0, np.nan, 0.0]])}, "finite"),
        ({"x": np.array([[1e39, 0.0, 0.0]])}, "finite"),
        ({"x": np.array([["a", "b", "c"]])}, "dtype <U1 which cannot be cast|cannot be cast"),
    ],
)
def test_invalid_inputs_name_the_input_and_expected_spec(inputs, message):
    async def scenario(handle):
        with pytest.raises(InvalidInputError, match=message):
            await handle.infer(inputs)

    with_handle(scenario)


def test_integers_are_cast_and_large_requests_are_split_across_batches():
    model = FakeModel()

    async def scenario(handle):
        x = np.arange(30, dtype=np.int64).reshape(10, 3)
        return x, await handle.infer({"x": x})

    x, out = with_handle(scenario, model)
    assert out["double"].dtype == np.float32
    np.testing.assert_array_equal(out["double"], x * 2)
    assert model.sizes == [4, 4, 2]


def test_refused_handle_raises_and_drain_waits_for_calls_inside():
    model = FakeModel()

    async def scenario(handle):
        model.gate.clear()
        call = asyncio.ensure_future(handle.infer({"x": np.ones((1, 3))}))
        await asyncio.sleep(0.05)
        handle.refuse(ServiceStoppingError)
        assert handle.in_flight == 1
        with pytest.raises(ServiceStoppingError):
            await handle.infer({"x": np.ones((1, 3))})
        draining = asyncio.ensure_future(handle.drain())
        await asyncio.sleep(0.05)
        assert not draining.done()
        model.gate.set()
        await draining
        return await call

    out = with_handle(scenario, model)
    assert out["total"][0] == 3.0


def test_trusted_inputs_skip_the_checks_and_get_the_same_answers():
    batch = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}

    async def scenario(handle: ModelHandle) -> tuple[Any, Any, Any]:
        checked = await handle.infer(batch)
        trusted = await handle.infer(batch, trusted=True)
        # A NaN row passes unchecked when the caller vouches for it (built by the service).
        unchecked = await handle.infer({"x": np.full((1, 3), np.nan, np.float32)}, trusted=True)
        return checked, trusted, unchecked

    checked, trusted, unchecked = with_handle(scenario)
    for name in checked:
        np.testing.assert_array_equal(checked[name], trusted[name])
    assert np.isnan(unchecked["double"]).all()
