"""The collector settings a serving process runs with once its models are loaded."""

import gc
from collections.abc import Iterator

import pytest

from service.server.heap import YOUNG_THRESHOLD, settle_startup_heap


@pytest.fixture(autouse=True)
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


def test_startup_objects_are_frozen_out_of_the_collectors_reach() -> None:
    class StartupObject:
        pass

    survivor = StartupObject()
    settle_startup_heap()
    assert gc.get_freeze_count() > 0
    assert not any(found is survivor for found in gc.get_objects())


def test_young_collections_wait_for_many_more_allocations_than_the_default() -> None:
    settle_startup_heap()
    before = gc.get_stats()[0]["collections"]
    # Ten thousand live containers: the default threshold (700) collects fourteen times.
    live: list[list[int]] = [[] for _ in range(YOUNG_THRESHOLD // 2)]
    assert gc.get_stats()[0]["collections"] == before
    assert len(live) == YOUNG_THRESHOLD // 2
