"""Stop a long request's work when its client leaves before the answer is ready.

ASGI servers do not cancel a handler whose client hung up: the request stays in the
batch queue, the model runs it, and the answer is thrown away. For a generation of
dozens of images that is capacity taken from the clients still waiting (a load test
that stops with 64 such requests in flight leaves a full queue that refuses the next
arrivals). Routes whose work is long race it against the client's `http.disconnect`;
when the client wins, the work is cancelled (a queued request is then skipped by the
batcher, never run) and the request ends as 499, logged and counted like any other.
"""

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

from service.errors import ClientClosedRequestError

T = TypeVar("T")


async def _disconnected(receive: Receive) -> None:
    """Returns once the server reports the client gone (after any body messages)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_client_leaves(receive: Receive, work: Awaitable[T]) -> T:
    """``work``'s result, or ``ClientClosedRequestError`` once the client has left."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this request itself is cancelled
        watch.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        return task.result()
    raise ClientClosedRequestError("the client closed the connection before the answer")
