"""A bounded HTTP/1.1 load client for the fault tests: loopback only, every request counted.

`run_load` keeps ``connections`` keep-alive connections busy with one fixed request each
(closed loop) until ``duration_s`` passes, ``max_requests`` have been sent or ``stop`` is
set, whichever comes first. Every attempt is recorded, including those that never got
an answer: a refused or failed connect, a connection closed or reset before the reply,
a reply slower than ``timeout_s``. `run_slow_clients` opens clients that trickle their
headers or body and records when (and how) the server cut them off.

Only loopback addresses are accepted: these tools are for one machine's own stack.

    records.py   Records (one entry per attempt), the outcome codes, summarize
    client.py    Request, require_loopback, run_load: the closed loop
    slow.py      run_slow_clients
    __main__.py  the command line (`python -m bench.scale.loadgen --help`)
"""

from bench.scale.loadgen.client import Request, require_loopback, run_load
from bench.scale.loadgen.records import ERROR_NAMES, Records, percentile, summarize
from bench.scale.loadgen.slow import SlowResult, run_slow_clients

__all__ = [
    "ERROR_NAMES",
    "Records",
    "Request",
    "SlowResult",
    "percentile",
    "require_loopback",
    "run_load",
    "run_slow_clients",
    "summarize",
]
