"""The replica rows: a replica or a worker goes away (restarted, killed, out of memory)
and comes back while the others carry the load."""

import json
import os
import signal
import time
from datetime import datetime
from functools import partial

from bench.scale.faults.base import READY_S, Harness, mib
from bench.scale.loadgen import Records
from bench.scale.report import Counts, Row, count
from bench.scale.stack import Load, Replica, wait_for

GRPC_BACKEND = "grpc_replicas"


class ReplicaRows(Harness):
    def rolling_restart(self) -> Row:
        replicas = self.stack.replicas()
        took: list[float] = []

        def fault(load: Load) -> str:
            for replica in replicas:
                began = time.time()
                self.stack.run(self.stack.docker, "restart", "-t", "30", replica.id, timeout=90)
                wait_for(f"{replica.name} back", partial(self._replica_up, replica), READY_S)
                took.append(time.time() - began)
            return (
                f"SIGTERM (docker restart -t 30) to {len(replicas)} replicas in turn, each "
                f"ready and UP again after {min(took):.0f}-{max(took):.0f} s"
            )

        records, detail, _ = self._under_load(fault)
        row = Row("rolling restart", count(records), detail)
        row.require(row.counts.failed == 0, f"{row.counts.failed} requests failed")
        return row

    def rolling_restart_grpc(self) -> Row:
        """As the rolling restart, under gRPC load through HAProxy's gRPC port. A call in
        flight on a replica that stops is answered (the drain) or, if it never reached the
        servicer, refused with GOAWAY and replayed by HAProxy elsewhere; a call is never
        replayed once it got an answer, so the bound is the calls in flight on each
        restarted replica by HAProxy's count (its gRPC backend's sessions)."""
        replicas = self.stack.replicas()
        # The short (CI) run restarts one replica: the same path, a third of the time.
        chosen = replicas[:1] if self.plan.duration_s < 30 else replicas
        in_flight, took = 0, []

        def fault(load: Load) -> str:
            nonlocal in_flight
            for replica in chosen:
                in_flight += self._in_flight(replica, backend=GRPC_BACKEND)
                began = time.time()
                self.stack.run(self.stack.docker, "restart", "-t", "30", replica.id, timeout=90)
                wait_for(f"{replica.name} back", partial(self._replica_up, replica), READY_S)
                wait_for(
                    f"{replica.name} back in gRPC",
                    partial(self._replica_up, replica, GRPC_BACKEND),
                    READY_S,
                )
                took.append(time.time() - began)
            return (
                f"SIGTERM (docker restart -t 30) to {len(chosen)} of {len(replicas)} replicas "
                f"in turn under gRPC load (KServe V2 ModelInfer, the PNG as BYTES), each ready "
                f"and UP again after {min(took):.0f}-{max(took):.0f} s; {in_flight} calls in "
                "flight on them by HAProxy's count"
            )

        records, detail, _ = self._under_load(fault, grpc=True)
        row = Row("rolling restart, gRPC", count(records), detail)
        self._require_bounded_failures(row, in_flight)
        row.require(row.counts.ok > 0, "no call answered")
        return row

    def kill_replica(self) -> Row:
        victim = self.pick("api")
        facts: dict[str, float] = {}

        def fault(load: Load) -> str:
            restarts = self._restarts(victim)
            pid = int(self.stack.inspect(victim.id)["State"]["Pid"])
            facts["in_flight"] = self._in_flight(victim)
            killed = time.time()
            # From the host, as a crash would: `docker kill` counts as a manual stop, after
            # which Docker's restart policy leaves the container down.
            os.kill(pid, signal.SIGKILL)
            wait_for("the balancer to drop it", lambda: self._slot_not_up(victim), 30, 0.05)
            facts["dropped_s"] = time.time() - killed
            wait_for("a restart", lambda: self._restarts(victim) > restarts, 60)
            wait_for("it to rejoin", lambda: self._replica_up(victim), READY_S)
            facts["back_s"] = time.time() - killed
            facts["back_at"] = time.time() - load.started
            return (
                f"SIGKILL to {victim.name}'s server (PID 1): {facts['in_flight']:.0f} requests in "
                f"flight, out of the balancer after {facts['dropped_s']:.1f} s, restarted by "
                f"Docker and back in it after {facts['back_s']:.0f} s"
            )

        records, detail, _ = self._under_load(fault)
        row = Row("SIGKILL one replica", count(records), detail)
        self._require_bounded_failures(row, int(facts["in_flight"]))
        row.require(facts["dropped_s"] <= 5, f"the balancer kept it for {facts['dropped_s']:.1f} s")
        self._require_serves_again(row, records, victim, facts["back_at"])
        return row

    def kill_worker(self) -> Row:
        victim = self.pick("api-w2")
        facts: dict[str, float] = {}

        def fault(load: Load) -> str:
            workers = self._workers(victim)
            facts["in_flight"] = self._in_flight(victim)
            killed = time.time()
            os.kill(workers[0], signal.SIGKILL)  # from the host: we are root, it is a pid here
            died = wait_for(
                "the supervisor to notice",
                lambda: _log_time(self.stack.logs_since(victim.id, killed), "died"),
                60,
                0.5,
            )
            facts["noticed_s"] = died - killed
            ready = wait_for(
                "a new worker serving",
                lambda: _log_time(
                    self.stack.logs_since(victim.id, killed), "Application startup complete"
                ),
                READY_S,
                1.0,
            )
            facts["ready_s"] = ready - killed
            return (
                f"SIGKILL to one worker of {victim.name} (--workers 2, {facts['in_flight']:.0f} "
                f"requests in flight on the replica): the supervisor noticed after "
                f"{facts['noticed_s']:.1f} s, a new worker served after {facts['ready_s']:.0f} s"
            )

        records, detail, _ = self._under_load(fault)
        row = Row("SIGKILL one worker (--workers 2)", count(records), detail)
        self._require_bounded_failures(row, int(facts["in_flight"]))
        return row

    def memory_limit(self) -> Row:
        victim = self.pick("api")
        facts: dict[str, float] = {}

        def fault(load: Load) -> str:
            limit = int(self.stack.inspect(victim.id)["HostConfig"]["Memory"])
            restarts = self._restarts(victim)
            facts["in_flight"] = self._in_flight(victim)
            began = time.time()
            # tmpfs pages count against the container's memory limit and cannot be
            # reclaimed: the kernel's OOM killer must pick the biggest process, the server.
            fill = f"dd if=/dev/zero of=/tmp/fill bs=1M count={limit // 2**20}"
            self.stack.run(self.stack.docker, "exec", "-d", victim.id, "sh", "-c", fill)
            wait_for("the OOM kill and restart", lambda: self._restarts(victim) > restarts, 120)
            facts["killed_at"] = time.time() - load.started
            wait_for("it to rejoin", lambda: self._replica_up(victim), READY_S)
            facts["back_at"] = time.time() - load.started
            events = self.stack.run(
                self.stack.docker, "events", "--since", f"{began:.0f}",
                "--until", f"{time.time():.0f}", "--filter", f"container={victim.id}",
                "--format", "{{.Action}}",
            ).split()  # fmt: skip
            facts["oom"] = float("oom" in events)
            return (
                f"/tmp (tmpfs) of {victim.name} filled to its {mib(limit)} MiB limit: "
                f"OOM event {'seen' if 'oom' in events else 'NOT seen'}, container restarted, "
                f"back after {facts['back_at'] - facts['killed_at']:.0f} s; "
                f"{facts['in_flight']:.0f} requests in flight on it"
            )

        records, detail, _ = self._under_load(fault)
        row = Row("memory limit reached", count(records), detail)
        outage: Counts = count(records, facts["killed_at"], facts["back_at"])
        row.detail += f"; while it was away the others answered {outage.ok_per_s} 200s/s"
        self._require_bounded_failures(row, int(facts["in_flight"]))
        row.require(facts["oom"] == 1.0, "no OOM event")
        row.require(outage.ok > 0, "nobody answered while it was away")
        self._require_serves_again(row, records, victim, facts["back_at"])
        return row

    # -- what the rows above watch and require ------------------------------------------
    def _replica_up(self, replica: Replica, backend: str = "replicas") -> Replica | None:
        """The replica (re-read: its address may change) once healthy and UP in HAProxy."""
        if not self.stack.healthy(replica.id):
            return None
        fresh = next((r for r in self.stack.replicas() if r.id == replica.id), None)
        if fresh is None:
            return None
        server = self.stack.server_of(fresh, backend)
        return fresh if server is not None and server.up else None

    def _in_flight(self, replica: Replica, samples: int = 5, backend: str = "replicas") -> int:
        """HAProxy's sessions in flight on the replica's slot, highest of a few samples."""
        seen = 0
        for _ in range(samples):
            server = self.stack.server_of(replica, backend)
            seen = max(seen, server.current if server else 0)
            time.sleep(0.05)
        return seen

    def _restarts(self, replica: Replica) -> int:
        return int(self.stack.inspect(replica.id)["RestartCount"])

    def _slot_not_up(self, replica: Replica) -> bool:
        server = self.stack.server_of(replica)
        return server is None or not server.status.startswith("UP")

    def _workers(self, replica: Replica) -> list[int]:
        return [
            pid
            for pid, _, args in self.stack.processes(replica.id)
            if "spawn_main" in args and "resource_tracker" not in args
        ]

    def _require_bounded_failures(self, row: Row, in_flight: int) -> None:
        row.require(
            row.counts.failed <= in_flight,
            f"{row.counts.failed} failed, more than the {in_flight} in flight",
        )

    def _require_serves_again(self, row: Row, records: Records, victim: Replica, at: float) -> None:
        fresh = next(r for r in self.stack.replicas() if r.id == victim.id)
        server = self.stack.server_of(fresh)
        name = server.name if server else "?"
        served = sum(
            1
            for sent, status, index in zip(
                records.started, records.status, records.replica, strict=True
            )
            if sent > at and status == 200 and index >= 0 and records.replicas[index] == name
        )
        row.detail += f"; {served} answers from it after it rejoined"
        row.require(served > 0, "it answered nothing after rejoining")


def _log_time(logs: str, text: str) -> float | None:
    """The time (epoch s) of the first JSON log line containing ``text``, if any."""
    for line in logs.splitlines():
        if text in line and line.startswith("{"):
            stamp = json.loads(line)["time"]
            return datetime.fromisoformat(stamp).timestamp()
    return None
