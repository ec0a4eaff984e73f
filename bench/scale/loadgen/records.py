"""What the load client records: one entry per attempt, and the outcome of each."""

from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Negative "statuses" for attempts that got no HTTP answer.
CONNECT_FAILED = -1  # refused, unreachable, or no connection within the timeout
NO_ANSWER = -2  # connection closed or reset after the request was sent
TIMED_OUT = -3  # no complete answer within timeout_s
BAD_ANSWER = -4  # something that is not an HTTP/1.1 response
WRONG_ANSWER = -5  # a 200 whose body lacks the expected text
# A gRPC call that ended with status code c (other than OK, recorded as 200) is
# GRPC_ERROR - c (the gRPC load client, grpc_load.py).
GRPC_ERROR = -100
_GRPC_CODES = [
    "ok",
    "cancelled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
]
ERROR_NAMES = {
    CONNECT_FAILED: "connect_failed",
    NO_ANSWER: "no_answer",
    TIMED_OUT: "timeout",
    BAD_ANSWER: "bad_answer",
    WRONG_ANSWER: "wrong_answer",
    **{GRPC_ERROR - code: f"grpc_{name}" for code, name in enumerate(_GRPC_CODES) if code},
}


@dataclass
class Records:
    """One entry per attempt, column by column (compact for a few hundred thousand)."""

    started: "array[float]" = field(default_factory=lambda: array("d"))  # s since the start
    latency: "array[float]" = field(default_factory=lambda: array("d"))  # s
    status: "array[int]" = field(default_factory=lambda: array("h"))  # HTTP status or < 0
    retry_after: "array[int]" = field(default_factory=lambda: array("b"))  # header present
    replica: "array[int]" = field(default_factory=lambda: array("b"))  # index in replicas, -1
    version: "array[int]" = field(default_factory=lambda: array("i"))  # model version, 0
    replicas: list[str] = field(default_factory=list)
    began_at: float = 0.0  # wall clock (time.time()) when the run began
    # The client's own CPU over the run (user + system s) and the run's wall time (s):
    # the generator shares the machine's cores with what it loads.
    cpu_s: float = 0.0
    wall_s: float = 0.0

    def add(
        self,
        started: float,
        latency: float,
        status: int,
        retry_after: bool = False,
        replica: str | None = None,
        version: int = 0,
    ) -> None:
        self.started.append(started)
        self.latency.append(latency)
        self.status.append(status)
        self.retry_after.append(1 if retry_after else 0)
        self.replica.append(self._replica_index(replica))
        self.version.append(version)

    def _replica_index(self, name: str | None) -> int:
        if name is None:
            return -1
        try:
            return self.replicas.index(name)
        except ValueError:
            self.replicas.append(name)
            return len(self.replicas) - 1

    def __len__(self) -> int:
        return len(self.status)

    def to_json(self) -> dict[str, Any]:
        return {
            "began_at": self.began_at,
            "cpu_s": round(self.cpu_s, 3),
            "wall_s": round(self.wall_s, 3),
            "replicas": self.replicas,
            "started": [round(v, 4) for v in self.started],
            "latency": [round(v, 5) for v in self.latency],
            "status": list(self.status),
            "retry_after": list(self.retry_after),
            "replica": list(self.replica),
            "version": list(self.version),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Records":
        records = cls(
            replicas=list(data["replicas"]),
            began_at=float(data["began_at"]),
            cpu_s=float(data.get("cpu_s", 0.0)),
            wall_s=float(data.get("wall_s", 0.0)),
        )
        records.started.extend(data["started"])
        records.latency.extend(data["latency"])
        records.status.extend(data["status"])
        records.retry_after.extend(data["retry_after"])
        records.replica.extend(data["replica"])
        records.version.extend(data["version"])
        return records


def cpu_share(records: Records) -> float:
    """The client's CPU over its run, as a share of one core."""
    return records.cpu_s / records.wall_s if records.wall_s else 0.0


def summarize(records: Records) -> dict[str, Any]:
    """Counts by outcome, latency of the 200s and the 200s per second."""
    statuses = Counter(ERROR_NAMES.get(s, str(s)) for s in records.status)
    ok = sorted(lat for lat, s in zip(records.latency, records.status, strict=True) if s == 200)
    span = max(records.started, default=0.0) + (max(records.latency, default=0.0) if ok else 0.0)
    return {
        "requests": len(records),
        "outcomes": dict(sorted(statuses.items())),
        "ok_per_s": round(len(ok) / span, 1) if span > 0 else 0.0,
        "p50_ms": round(percentile(ok, 0.50) * 1000, 2),
        "p99_ms": round(percentile(ok, 0.99) * 1000, 2),
        "max_ms": round(max(records.latency, default=0.0) * 1000, 2),
    }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of already sorted values; 0 for none."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[rank]
