"""A gRPC call made while others are in progress waits for a batch off the event loop.

grpc.aio hands the loop one call per turn, so the batcher's turn-based guess that a
caller is alone held for nearly every call at 64 clients: each ran on the event loop,
one row at a time. The call policy knows how many calls are in progress and says so.
"""

import asyncio
from typing import Any

from service.config import Settings
from service.metrics import ServiceMetrics
from service.rpc.calls import LOOK_FOR_COMPANY, CallPolicy, current_call


class Context:
    def invocation_metadata(self) -> tuple[()]:
        return ()

    def set_trailing_metadata(self, metadata: Any) -> None:
        self.trailers = metadata

    async def abort(self, code: Any, details: str, trailers: Any = None) -> None:
        raise AssertionError(f"aborted: {code} {details}")


def test_a_call_is_in_company_only_while_another_is_in_progress():
    policy = CallPolicy(Settings(), ServiceMetrics(), lambda fields: None)
    seen: list[tuple[str, bool]] = []
    release = asyncio.Event()

    async def first(request: Any, context: Any) -> str:
        seen.append(("first", current_call().in_company))
        await release.wait()
        return "first"

    async def second(request: Any, context: Any) -> str:
        seen.append(("second", current_call().in_company))
        return "second"

    method = "/inference.GRPCInferenceService/ModelInfer"

    async def main() -> None:
        started = policy._unary(first, method, probe=False)(object(), Context())
        running = asyncio.create_task(started)
        while not seen:
            await asyncio.sleep(0)
        await policy._unary(second, method, probe=False)(object(), Context())
        release.set()
        await running
        await policy._unary(second, method, probe=False)(object(), Context())  # alone again

    asyncio.run(main())
    assert seen == [("first", False), ("second", True), ("second", False)]


def test_a_lone_caller_looks_for_company_every_so_often():
    # Calls that each run on the event loop end before grpc.aio hands over the next,
    # so they look alone at any load; now and then one waits for a batch instead.
    policy = CallPolicy(Settings(), ServiceMetrics(), lambda fields: None)
    seen: list[bool] = []

    async def alone(request: Any, context: Any) -> str:
        seen.append(current_call().in_company)
        return "alone"

    async def main() -> None:
        handler = policy._unary(alone, "/inference.GRPCInferenceService/ModelInfer", probe=False)
        for _ in range(2 * LOOK_FOR_COMPANY):
            await handler(object(), Context())

    asyncio.run(main())
    assert [index + 1 for index, company in enumerate(seen) if company] == [
        LOOK_FOR_COMPANY,
        2 * LOOK_FOR_COMPANY,
    ]
