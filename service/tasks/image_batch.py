"""A request's encoded images as one input batch: inline when small, else in parallel.

Small uploads are prepared on the event loop: 64 digits of 28x28 take a millisecond or
two, less than the hops to a thread and back would add. Larger ones are split into
parts prepared on a small pool of threads, one per core, so one big photo cannot stall
every other request and the photos of one request decode side by side (Pillow releases
the GIL). The pool also bounds memory: at most one image per thread is decoded at full
size at any moment, however many photos the requests in flight carry.
"""

import asyncio
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from service.card import ImageSpec, Polarity
from service.preprocessing.batch import Part, PreparedBatch, assemble, prepare_part

INLINE_DECODE_BYTES = 256 * 1024
PARTS_PER_THREAD = 4  # enough parts that threads finishing early find more work


def decode_threads() -> int:
    """One per core this process may run on (its affinity, so a container's cpuset counts)."""
    return len(os.sched_getaffinity(0))


@lru_cache(maxsize=1)
def decode_pool() -> ThreadPoolExecutor:
    """The process's image threads (made on first use)."""
    return ThreadPoolExecutor(decode_threads(), thread_name_prefix="image-decode")


def split(datas: Sequence[bytes], parts: int) -> list[Sequence[bytes]]:
    """`datas` in at most `parts` runs of nearly equal length, in order."""
    count = max(1, min(parts, len(datas)))
    size, extra = divmod(len(datas), count)
    runs, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        runs.append(datas[start:end])
        start = end
    return runs


async def prepare_batch(
    datas: Sequence[bytes],
    spec: ImageSpec,
    dtype: str,
    polarity: Polarity | None,
    max_pixels: int,
) -> PreparedBatch:
    """Every upload as the model's input, one batch in upload order.

    Raises what `prepare_image` raises for the first bad upload.
    """
    if sum(len(data) for data in datas) <= INLINE_DECODE_BYTES:
        return assemble([prepare_part(datas, spec, polarity, max_pixels)], spec, dtype)
    pool, loop = decode_pool(), asyncio.get_running_loop()
    runs = split(datas, decode_threads() * PARTS_PER_THREAD)
    pending = [
        loop.run_in_executor(pool, prepare_part, run, spec, polarity, max_pixels) for run in runs
    ]
    results = await asyncio.gather(*pending, return_exceptions=True)
    parts: list[Part] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result  # the first bad upload's error, as one after another would give
        parts.append(result)
    return assemble(parts, spec, dtype)
