"""CPU time per thread of a running process over an interval, from /proc.

Throughput on a shared machine moves with the neighbours; the CPU a server spends per
answer moves much less. Run beside a load generator, divide by the calls it made:

    python -m bench.thread_cpu PID SECONDS [CALLS]

prints each thread's CPU seconds over the interval (threads under 10 ms left out)
and, given CALLS, the microseconds per call. The event loop's thread is the one
named after the interpreter (``python``); gRPC's I/O threads are ``event_engine``.
"""

import os
import sys
import time
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def thread_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of each thread, keyed ``name:tid``."""
    seconds = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            name = (task / "comm").read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after the name, which may hold spaces
        seconds[f"{name}:{task.name}"] = (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND
    return seconds


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each thread spent between two readings, busiest first."""
    deltas = {key: after[key] - before.get(key, 0.0) for key in after}
    return dict(sorted(deltas.items(), key=lambda item: -item[1]))


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    pid, interval = int(argv[0]), float(argv[1])
    calls = int(argv[2]) if len(argv) == 3 else 0
    before = thread_seconds(pid)
    time.sleep(interval)
    for key, seconds in spent(before, thread_seconds(pid)).items():
        if seconds >= 0.01:
            per_call = f"  {seconds / calls * 1e6:.0f} us per call" if calls else ""
            print(f"{key:32s} {seconds:7.2f} s{per_call}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
