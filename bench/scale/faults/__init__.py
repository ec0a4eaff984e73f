"""The faults of issue 13, each injected into the running stack under steady loopback load.

Every row starts the load client (its own process, `loadgen`), lets it run ``warmup_s``,
injects its fault and waits for the fault to play out (a replica back and serving, an
alert firing), keeps the load going until it has run at least ``duration_s``, then counts
every request the client sent and checks what must hold. A row never raises for a
failed expectation: it records a problem, and the table says FAIL.

    base.py      the plan, the c=64 reference, load started and kept on around a fault
    load.py      the quiet c=64 run, slow clients, 2,000 connections
    versions.py  a new version published, a damaged one
    rollout.py   a canary flip through versions.json
    replicas.py  rolling restart, SIGKILL to a replica or a worker, the memory limit
"""

from bench.scale.faults.base import Plan, save
from bench.scale.faults.load import GOODPUT_PROBLEM, NOISY_RATIO_PROBLEMS, P99_PROBLEM, LoadRows
from bench.scale.faults.replicas import ReplicaRows
from bench.scale.faults.rollout import RolloutRows
from bench.scale.faults.versions import VersionRows


class Faults(LoadRows, VersionRows, RolloutRows, ReplicaRows):
    """Every row of the table, against one stack with one plan."""


__all__ = ["GOODPUT_PROBLEM", "NOISY_RATIO_PROBLEMS", "P99_PROBLEM", "Faults", "Plan", "save"]
