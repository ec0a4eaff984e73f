"""Encoded inputs: a batch's items prepared together where it runs, a bad one failing alone."""

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.runtime.batcher import DynamicBatcher
from service.runtime.encoded import Encoded, materialized, prepared
from service.runtime.errors import InvalidInputError
from service.runtime.settings import RuntimeSettings


class Lengths:
    """Each item as one row holding its length; b"bad" cannot be prepared. Counts calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, items: Sequence[bytes]) -> np.ndarray:
        self.calls.append(len(items))
        if b"bad" in items:
            raise InvalidInputError("item 'bad' is not an image")
        return np.array([[len(item)] for item in items], dtype=np.float32)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lengths)

    __hash__ = object.__hash__


def test_arrays_alone_pass_through_untouched():
    rows = {"x": np.ones((2, 1), np.float32)}

    arrays, failed = prepared([rows])

    assert arrays[0]["x"] is rows["x"]
    assert failed == {}


def test_a_batchs_items_are_prepared_in_one_call_and_each_request_gets_its_rows():
    rows = Lengths()
    requests = [{"x": Encoded([b"a", b"bb"], rows)}, {"x": Encoded([b"ccc"], Lengths())}]

    arrays, failed = prepared(requests)

    assert rows.calls == [3]
    assert [a["x"].ravel().tolist() for a in arrays] == [[1.0, 2.0], [3.0]]
    assert failed == {}


def test_a_request_with_a_bad_item_fails_alone_with_its_own_error():
    rows = Lengths()
    requests = [
        {"x": Encoded([b"a"], rows)},
        {"x": Encoded([b"bad", b"dd"], rows)},
        {"x": Encoded([b"eee"], rows)},
    ]

    arrays, failed = prepared(requests)

    assert list(failed) == [1]
    assert "not an image" in str(failed[1])
    assert arrays[0]["x"].ravel().tolist() == [1.0]
    assert arrays[2]["x"].ravel().tolist() == [3.0]
    assert arrays[1]["x"].shape == (2, 1)  # stand-ins, so the batch keeps its rows
    assert arrays[1]["x"].dtype == np.float32


def test_materialized_prepares_now():
    assert materialized({"x": Encoded([b"ab"], Lengths())})["x"].tolist() == [[2.0]]


def test_the_batcher_answers_the_good_requests_of_a_batch_and_fails_the_bad_one():
    seen: list[int] = []

    def predict(inputs):
        seen.append(len(inputs["x"]))
        return {"y": inputs["x"] * 10}

    async def scenario():
        settings = RuntimeSettings(max_batch_size=8, batch_sizes=(8,), max_queue_delay_s=0.05)
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(predict, settings, pool, name="m", version=1)
            batcher.start()
            rows = Lengths()
            items = ([b"a"], [b"bad"], [b"ccc"])
            futures = [
                batcher.submit({"x": Encoded(each, rows)}, 1, 5.0, in_company=True)
                for each in items
            ]
            results = await asyncio.gather(*futures, return_exceptions=True)
            await batcher.close()
            return results

    good, bad, other = asyncio.run(scenario())

    assert good["y"].tolist() == [[10.0]]
    assert other["y"].tolist() == [[30.0]]
    assert isinstance(bad, InvalidInputError)
    assert seen == [8]  # one padded batch ran, the bad request's row a stand-in


@pytest.mark.parametrize("bad", [[b"bad"], [b"bad", b"bad"]])
def test_a_batch_whose_every_request_fails_runs_no_model(bad):
    def predict(inputs):
        raise AssertionError("the model ran")

    async def scenario():
        settings = RuntimeSettings(max_batch_size=8, batch_sizes=(8,), max_queue_delay_s=0.05)
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(predict, settings, pool, name="m", version=1)
            batcher.start()
            future = batcher.submit({"x": Encoded(bad, Lengths())}, len(bad), 5.0)
            results = await asyncio.gather(future, return_exceptions=True)
            await batcher.close()
            return results

    (error,) = asyncio.run(scenario())

    assert isinstance(error, InvalidInputError)
