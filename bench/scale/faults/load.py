"""The load rows: the quiet c=64 reference, slow clients, and 2,000 connections."""

import time

from bench.scale.faults.base import Harness, Quiet, mib
from bench.scale.loadgen.records import cpu_share
from bench.scale.report import Row, count
from bench.scale.stack import Load, Replica, Stack

SLOW_CLIENT_CUT_S = 7.0  # HAProxy's timeout http-request (5 s) and some slack
GOODPUT_PROBLEM = "goodput under 80% of c=64"
P99_PROBLEM = "normal clients' p99 over 2x the quiet figure"
# Each compares two measurements taken a minute apart on a shared machine.
NOISY_RATIO_PROBLEMS = frozenset({GOODPUT_PROBLEM, P99_PROBLEM})


class LoadRows(Harness):
    def quiet_load(self) -> Row:
        load = self._load()
        records = self._finish(load, 0)
        counts = count(records)
        self.quiet = Quiet(counts.ok_per_s, counts.p99_s)
        row = Row("none (c=64 through the balancer)", counts)
        row.detail = f"the c=64 figures: {counts.ok_per_s} 200s/s, p99 {counts.p99_s * 1000:.0f} ms"
        row.require(counts.failed == 0, f"{counts.failed} requests failed without any fault")
        return row

    def slow_clients(self) -> Row:
        """Slow clients for duration_s, after as long a stretch of the same load without."""
        load = self._load()
        quiet_until = max(self.plan.warmup_s, self.plan.duration_s / 2)
        time.sleep(quiet_until)
        began = load.elapsed()
        clients = Load(
            self.stack.lb_port,
            self.plan.body,
            self.plan.work / "slow.json",
            connections=1,
            max_seconds=self.plan.duration_s,
            path=self.plan.path,
            slow=self.plan.slow_clients,
        )
        attempts = clients.raw(timeout_s=self.plan.duration_s + 60)
        ended = load.elapsed()
        records = load.records()
        quiet = count(records, 1.0, quiet_until)
        during = count(records, began + 1.0, ended)
        cut = [a["open_s"] for a in attempts if a["cut"]]
        still_open = [a["open_s"] for a in attempts if not a["cut"]]
        statuses = sorted({str(a["status"]) for a in attempts if a["cut"]})
        row = Row(f"{self.plan.slow_clients} slow clients", count(records))
        row.detail = (
            f"{self.plan.slow_clients} clients trickling headers or a body at 1 byte/s for "
            f"{ended - began:.0f} s, reconnecting when cut: {len(cut)} connections cut "
            f"after {min(cut, default=0):.1f}-{max(cut, default=0):.1f} s (answers: "
            f"{', '.join(statuses)}), {len(still_open)} open at the end; normal clients' p99 "
            f"{during.p99_s * 1000:.0f} ms with them, {quiet.p99_s * 1000:.0f} ms just before"
        )
        row.require(row.counts.failed == 0, f"{row.counts.failed} normal requests failed")
        row.require(during.p99_s <= 2 * quiet.p99_s, P99_PROBLEM)
        limit = SLOW_CLIENT_CUT_S
        row.require(bool(cut), "no slow client was cut off")
        row.require(max(cut, default=0) <= limit, f"a slow client stayed {max(cut):.1f} s")
        row.require(max(still_open, default=0) <= limit, "a slow client was never cut off")
        return row

    def overload(self, replica: Replica | None = None) -> list[Row]:
        """2,000 connections, through the balancer or straight at one replica's port,
        between two c=64 runs against the same target: goodput is compared with their
        mean, so that neighbours' load changing during the row counts on both sides."""
        where = f"straight at {replica.name}" if replica else "through the balancer"
        port = _host_port(self.stack, replica) if replica else None
        if replica:
            before_row, before = self._c64(port, f"none (c=64 {where})")
            rows = [before_row]
        else:
            rows, before = [], self.quiet
        targets = [replica] if replica else self.stack.replicas()
        start = sum(self.stack.memory_bytes(r.id) for r in targets)
        load = self._load(connections=self.plan.overload_connections, port=port)
        peak = start
        while load.elapsed() < self.plan.duration_s:
            time.sleep(1.0)
            peak = max(peak, sum(self.stack.memory_bytes(r.id) for r in targets))
        records = load.records()
        counts = count(records)
        time.sleep(10)
        end = sum(self.stack.memory_bytes(r.id) for r in targets)
        after_row, after = self._c64(port, f"none (c=64 {where}, after)")
        reference = (before.ok_per_s + after.ok_per_s) / 2
        row = Row(f"{self.plan.overload_connections:,} connections {where}", counts)
        row.detail = (
            f"goodput {counts.ok_per_s} 200s/s vs {reference:.1f} at c=64 (mean of "
            f"{before.ok_per_s} before and {after.ok_per_s} after: "
            f"{counts.ok_per_s / max(reference, 1e-9):.0%}); p99 {counts.p99_s:.2f} s; "
            f"memory {mib(start)} -> peak {mib(peak)} -> {mib(end)} MiB 10 s after; "
            f"load generator CPU {cpu_share(records):.0%} of a core"
        )
        row.require(counts.failed == 0, f"{counts.failed} answers were not 200 or 503+Retry-After")
        row.require(counts.max_s < 10, f"a request took {counts.max_s} s")
        holds = row.require if self.plan.enforce_goodput_floor else row.report
        holds(counts.ok_per_s >= 0.8 * reference, GOODPUT_PROBLEM)
        grown = end - start
        row.require(grown <= max(0.1 * start, 64 * 2**20), f"memory stayed {mib(grown)} MiB higher")
        return [*rows, row, after_row]

    def _c64(self, port: int | None, name: str) -> tuple[Row, Quiet]:
        counts = count(self._finish(self._load(port=port), 0))
        row = Row(name, counts, f"the c=64 figure: {counts.ok_per_s} 200s/s")
        row.require(counts.failed == 0, f"{counts.failed} requests failed without any fault")
        return row, Quiet(counts.ok_per_s, counts.p99_s)


def _host_port(stack: Stack, replica: Replica) -> int:
    """The 127.0.0.1 port Docker published for the replica's 8000."""
    out = stack.run(stack.docker, "port", replica.id, "8000/tcp").split()
    return int(out[0].rsplit(":", 1)[1])
