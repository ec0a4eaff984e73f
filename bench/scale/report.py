"""Pure logic of the fault table: counting a run's records, judging a row, printing it."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.scale.loadgen import ERROR_NAMES, Records, percentile


@dataclass(frozen=True)
class Counts:
    """Every request of one window, by outcome."""

    requests: int
    ok: int  # 200 with the expected answer
    shed: int  # 503 with Retry-After
    failed: int  # everything else: other statuses, 503 without Retry-After, no answer
    outcomes: dict[str, int]
    ok_per_s: float  # 200s completed while requests were being sent, per second
    p99_s: float  # of the 200s
    max_s: float  # of every request, answered or not

    def to_json(self) -> dict[str, Any]:
        return vars(self)


def count(records: Records, start: float = 0.0, end: float = float("inf")) -> Counts:
    """Counts of the requests *sent* between ``start`` and ``end`` (s into the run)."""
    outcomes: Counter[str] = Counter()
    ok_ends, ok_latencies, shed, failed, worst = [], [], 0, 0, 0.0
    first, last = float("inf"), 0.0  # first and last request sent
    for sent, latency, status, retry_after in zip(
        records.started, records.latency, records.status, records.retry_after, strict=True
    ):
        if not start <= sent < end:
            continue
        outcomes[ERROR_NAMES.get(status, str(status))] += 1
        first, last, worst = min(first, sent), max(last, sent), max(worst, latency)
        if status == 200:
            ok_latencies.append(latency)
            ok_ends.append(sent + latency)
        elif status == 503 and retry_after:
            shed += 1
        else:
            failed += 1
    # Throughput as completions while the load was on: counting the answers still arriving
    # after the last send over a longer span would make slow answers look like less work.
    span = last - first if last > first else 0.0
    done = sum(1 for finished in ok_ends if finished <= last)
    ok_latencies.sort()
    return Counts(
        requests=sum(outcomes.values()),
        ok=len(ok_latencies),
        shed=shed,
        failed=failed,
        outcomes=dict(sorted(outcomes.items())),
        ok_per_s=round(done / span, 1) if span else 0.0,
        p99_s=round(percentile(ok_latencies, 0.99), 4),
        max_s=round(worst, 3),
    )


def versions_by_replica(
    records: Records, since: float
) -> dict[str, dict[int, tuple[float, float]]]:
    """For each replica: model version -> (first, last) time it answered with it."""
    seen: dict[str, dict[int, tuple[float, float]]] = {}
    for sent, status, replica, version in zip(
        records.started, records.status, records.replica, records.version, strict=True
    ):
        if sent < since or status != 200 or replica < 0:
            continue
        spans = seen.setdefault(records.replicas[replica], {})
        first, last = spans.get(version, (sent, sent))
        spans[version] = (min(first, sent), max(last, sent))
    return seen


@dataclass
class Row:
    """One line of the table: what was done, what was counted, what had to hold."""

    fault: str
    counts: Counts
    detail: str = ""
    problems: list[str] = field(default_factory=list)
    remeasured: bool = False  # a noisy ratio, measured again in the next row
    reported: list[str] = field(default_factory=list)  # missed floors that do not fail it

    @property
    def passed(self) -> bool:
        return not self.problems or self.remeasured

    def require(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def report(self, condition: bool, problem: str) -> None:
        """A floor this run shows but does not hold the row to."""
        if not condition:
            self.reported.append(problem)

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "counts": self.counts.to_json(),
            "detail": self.detail,
            "problems": self.problems,
            "remeasured": self.remeasured,
            "reported": self.reported,
            "passed": self.passed,
        }


HEADER = ("fault", "requests", "200", "failed", "503+RA", "max s", "200/s", "result")


def table(rows: Iterable[Row]) -> str:
    """The rows as a Markdown table, each followed by its detail and problems."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    notes = []
    for row in rows:
        c = row.counts
        verdict = "re-measured" if row.remeasured else "pass" if row.passed else "FAIL"
        cells = (row.fault, c.requests, c.ok, c.failed, c.shed, c.max_s, c.ok_per_s, verdict)
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
        notes.append(f"- {row.fault}: {row.detail}")
        label = "noisy, measured again below" if row.remeasured else "FAILED"
        notes += [f"  - {label}: {problem}" for problem in row.problems]
        notes += [f"  - reported, not enforced in this run: {problem}" for problem in row.reported]
    return "\n".join([*lines, "", *notes])
