"""The version rows: a new version published under load, and a damaged one."""

import contextlib
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

from bench.scale.faults.base import MODEL, Harness
from bench.scale.loadgen import Records
from bench.scale.report import Row, count, versions_by_replica
from bench.scale.stack import Load, Replica, StackError, wait_for

LOAD_ALERT = "KerasserveModelLoadFailed"


class VersionRows(Harness):
    def new_version(self) -> Row:
        model_dir = self.stack.models_dir / MODEL
        old = max(int(p.name) for p in model_dir.iterdir() if p.name.isdigit())
        new = old + 1
        facts: dict[str, float] = {}

        def fault(load: Load) -> str:
            # Written in place, file by file in small chunks over about two seconds: the
            # replicas must wait until it is complete (the two-poll stability rule).
            began = time.time()
            _slow_copy(model_dir / str(old), model_dir / str(new), seconds=2.0)
            facts["published"] = time.time() - load.started
            time.sleep(2 * self.plan.poll_interval_s + 8)
            facts["load_s"] = max(
                (self._load_seconds(r, new, began) for r in self.stack.replicas()), default=0.0
            )
            return f"{MODEL} v{new} copied into the shared directory over 2 s"

        records, detail, _ = self._under_load(fault)
        row = Row("new version published", count(records), detail)
        row.require(row.counts.failed == 0, f"{row.counts.failed} requests failed")
        self._require_switch(row, records, old, new, facts["published"], facts["load_s"])
        return row

    def _load_seconds(self, replica: Replica, version: int, since: float) -> float:
        """How long the replica took to load and warm ``version`` up, from its log."""
        found = re.findall(
            rf"{MODEL} v{version} AVAILABLE in ([0-9.]+) s",
            self.stack.logs_since(replica.id, since),
        )
        return max((float(seconds) for seconds in found), default=0.0)

    def _require_switch(
        self, row: Row, records: Records, old: int, new: int, published: float, load_s: float
    ) -> None:
        # The poll that first sees the finished copy may come up to one interval late,
        # the next confirms nothing changed, then the version loads and warms up.
        polls = 2 * self.plan.poll_interval_s
        bound = polls + load_s
        spans = versions_by_replica(records, 0.0)
        switched = []
        for replica, versions in sorted(spans.items()):
            strange = set(versions) - {old, new}
            row.require(not strange, f"{replica} answered with version(s) {sorted(strange)}")
            if new not in versions:
                row.require(False, f"{replica} never served v{new}")
                continue
            # From the last answer with the old version on, it serves only the new one.
            last_old = versions.get(old, (0.0, 0.0))[1]
            switched.append(max(0.0, last_old - published))
        if switched:
            row.detail += (
                f"; every replica serves only v{new} within {max(switched):.1f} s of the copy "
                f"finishing (fastest {min(switched):.1f} s; two poll intervals {polls:.0f} s "
                f"plus the slowest replica's load and warm-up, {load_s:.1f} s)"
            )
            row.require(
                max(switched) <= bound, f"a replica took {max(switched):.1f} s > {bound:.1f} s"
            )

    def damaged_version(self) -> Row:
        model_dir = self.stack.models_dir / MODEL
        good = max(int(p.name) for p in model_dir.iterdir() if p.name.isdigit())
        bad = model_dir / str(good + 1)
        facts: dict[str, float] = {}

        def in_rotation() -> int:
            """Replicas taking traffic now; the fewest seen is kept."""
            now = sum(1 for server in self.stack.servers().values() if server.in_rotation)
            facts["min_up"] = min(facts.get("min_up", now), now)
            return now

        def alert_firing() -> list[dict[str, Any]]:
            in_rotation()
            return self.stack.firing(LOAD_ALERT)

        def all_counted() -> bool:
            in_rotation()
            return self._replicas_failed() >= facts["replicas"]

        def fault(load: Load) -> str:
            in_rotation()
            _slow_copy(model_dir / str(good), bad, seconds=0.5)
            graph = bad / "saved_model.pb"
            graph.write_bytes(random.Random(13).randbytes(graph.stat().st_size))
            published = time.time()
            firing = wait_for(
                f"{LOAD_ALERT} to fire",
                alert_firing,
                2 * self.plan.poll_interval_s + 90,
                1.0,
            )
            facts["alert_s"] = time.time() - published
            facts["replicas"] = len(self.stack.replicas())
            # The alert fires with the first replica; the others follow at their own polls.
            with contextlib.suppress(StackError):  # counted below; the row says how many
                wait_for(
                    "every replica to count the failure",
                    all_counted,
                    2 * self.plan.poll_interval_s + 30,
                    1.0,
                )
            facts["replicas_failed"] = self._replicas_failed()
            in_rotation()
            instances = sorted({a["labels"].get("instance", "?") for a in firing})
            return (
                f"v{good + 1} with a corrupt saved_model.pb: {LOAD_ALERT} firing in "
                f"Prometheus (GET /api/v1/alerts) {facts['alert_s']:.0f} s after publishing, "
                f"for {len(instances)} instance(s); load failures counted by "
                f"{facts['replicas_failed']:.0f} of {facts['replicas']:.0f} replicas"
            )

        try:
            records, detail, _ = self._under_load(fault)
        finally:
            shutil.rmtree(bad, ignore_errors=True)
        row = Row("damaged version published", count(records), detail)
        row.require(row.counts.failed == 0, f"{row.counts.failed} requests failed")
        served = {v for spans in versions_by_replica(records, 0.0).values() for v in spans}
        row.require(served == {good}, f"answers came from versions {sorted(served)}")
        row.require(
            facts["replicas_failed"] == facts["replicas"], "not every replica counted the failure"
        )
        row.require(facts["min_up"] >= facts["replicas"], "a replica left the balancer")
        return row

    def _replicas_failed(self) -> int:
        failures = self.stack.query(f'kerasserve_model_load_failures_total{{model="{MODEL}"}} > 0')
        return len({sample["metric"]["instance"] for sample in failures})


def _slow_copy(source: Path, target: Path, seconds: float) -> None:
    """Copy a version directory file by file, in chunks, spread over ``seconds``."""
    files = sorted(p for p in source.rglob("*") if p.is_file())
    chunks = sum(max(1, p.stat().st_size // 65536 + 1) for p in files)
    pause = seconds / max(chunks, 1)
    for path in files:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as reader, destination.open("wb") as writer:
            while chunk := reader.read(65536):
                writer.write(chunk)
                writer.flush()
                time.sleep(pause)
