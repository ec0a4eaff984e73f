"""Host tuning a latency-sensitive deployment may apply, held for the length of a run.

Linux's PM QoS: while a process holds `/dev/cpu_dma_latency` open with a value
written to it, idle CPUs stay in states they can leave within that many
microseconds (0: polling, no halt). On this machine's virtual CPUs a halted core
costs a VM exit to wake, and a request at concurrency 1 waits for one every time.
"""

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager

PM_QOS_DEVICE = "/dev/cpu_dma_latency"


@contextmanager
def cpu_wake_latency(microseconds: int | None) -> Iterator[str]:
    """Hold the CPU wake-up latency bound (None: leave the host alone); yield a note."""
    if microseconds is None:
        yield "host CPU idle states untouched"
        return
    if microseconds < 0:
        raise ValueError("the wake-up latency bound must not be negative")
    descriptor = os.open(PM_QOS_DEVICE, os.O_WRONLY)
    try:
        os.write(descriptor, struct.pack("i", microseconds))
        yield f"{PM_QOS_DEVICE} held at {microseconds} us"
    finally:
        os.close(descriptor)  # the bound ends with the descriptor
