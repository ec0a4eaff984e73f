"""The rollout row: a canary flip through versions.json, under load, on every replica.

The steps of docs/serving.md on the shared models directory: pin ``stable`` to the
serving version with all the traffic, publish the next version beside it (it loads
but gets nothing), send it 10%, then promote it. From each write on, every replica is
probed straight at its address on the compose network: two sticky route keys (one the
90/10 split sends to the old version, one to the new) and `GET /v1/models` for the
split in force. A replica has followed once every probe answers by the new file; its
time is from the write to the first such answer after the last one that did not.
"""

import hashlib
import http.client
import json
import math
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench.scale.faults.base import MODEL, READY_S, Harness
from bench.scale.loadgen import Records
from bench.scale.report import Row, count
from bench.scale.stack import Load, Replica

FILE_NAME = "versions.json"
CANARY_PERCENT = 10
FOLLOWED_AFTER = 4  # wanted answers in a row (fresh connections: every worker is asked)
Probe = Callable[[], bool]


def key_point(route_key: str) -> float:
    """Where the service places a route key in [0, 1) (service/runtime/rollout.py)."""
    digest = hashlib.blake2b(route_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


def route_key(low: float, high: float) -> str:
    """The first probe key whose point falls in [low, high)."""
    return next(f"probe-{i}" for i in range(10_000) if low <= key_point(f"probe-{i}") < high)


@dataclass(frozen=True)
class Step:
    """One file: its document, the version each route key must reach, the split in %."""

    name: str
    document: dict[str, Any]
    keys: dict[str, int]
    split: dict[str, float]


@dataclass
class Flip:
    """Wall-clock marks (a file written, the version published) and, per watch, the
    seconds each replica took to follow."""

    marks: dict[str, float] = field(default_factory=dict)
    follow: dict[str, dict[str, float]] = field(default_factory=dict)


def rollout_steps(old: int, new: int, to_old: str, to_new: str) -> tuple[Step, Step, Step]:
    """Pin, canary, promote: the steps of docs/serving.md with ``old`` serving."""
    stable = 100 - CANARY_PERCENT
    pin = Step(
        "pin",
        {"version_labels": {"stable": old}, "traffic": {"stable": 100}},
        {to_old: old, to_new: old},
        {str(old): 100.0},
    )
    canary = Step(
        "canary",
        {
            "version_labels": {"stable": old, "canary": new},
            "traffic": {"stable": stable, "canary": CANARY_PERCENT},
        },
        {to_old: old, to_new: new},
        {str(old): float(stable), str(new): float(CANARY_PERCENT)},
    )
    promote = Step(
        "promote",
        {"version_labels": {"stable": new}, "traffic": {"stable": 100}},
        {to_old: new, to_new: new},
        {str(new): 100.0},
    )
    return pin, canary, promote


class RolloutRows(Harness):
    def canary_flip(self) -> Row:
        model_dir = self.stack.models_dir / MODEL
        old = max(int(p.name) for p in model_dir.iterdir() if p.name.isdigit())
        new = old + 1
        steps = rollout_steps(old, new, route_key(0.0, 0.5), route_key(0.95, 1.0))
        pin, canary, promote = steps
        flip = Flip()
        budget = 2 * self.plan.poll_interval_s
        body = self.plan.body.read_bytes()

        def fault(load: Load) -> str:
            replicas = self.stack.replicas()
            self._step(replicas, model_dir, pin, flip, body)
            _publish(model_dir / str(old), model_dir / str(new))
            flip.marks["published"] = time.time()
            self._watch(replicas, flip, "published", "loaded", READY_S, partial(_loaded, new))
            self._step(replicas, model_dir, canary, flip, body)
            # Canary answers to count, from every worker's promise on (two polls from the
            # write): as after the promotion, the probes may have seen only one worker of
            # the --workers 2 replica follow while the other still served the old split.
            canary_ends = flip.marks["canary"] + budget + max(3.0, self.plan.duration_s / 3)
            time.sleep(max(0.0, canary_ends - time.time()))
            self._step(replicas, model_dir, promote, flip, body)
            # Answers after every worker's promise (two polls from the write) to judge:
            # a replica's probes may all reach one of its workers (SO_REUSEPORT), while the
            # other is still within its own poll.
            time.sleep(max(0.0, flip.marks["promote"] + budget + 3.0 - time.time()))
            loaded = max(flip.follow["loaded"].values())
            followed = "; ".join(_times(step.name, flip.follow[step.name]) for step in steps)
            return (
                f"{FILE_NAME} rewritten under load: stable -> v{old} with all the traffic, "
                f"v{new} published beside it (AVAILABLE on every replica after "
                f"{loaded:.1f} s), {100 - CANARY_PERCENT}/{CANARY_PERCENT} v{old}/v{new}, "
                f"stable -> v{new}; each replica answering by the new file (two sticky route "
                f"keys and /v1/models, straight at it) after {followed} (two poll intervals: "
                f"{budget:.0f} s)"
            )

        try:
            records, detail, _ = self._under_load(fault)
        finally:
            (model_dir / FILE_NAME).unlink(missing_ok=True)
        row = Row("canary flip (versions.json)", count(records), detail)
        row.require(row.counts.failed == 0, f"{row.counts.failed} requests failed")
        for step in steps:
            slowest = max(flip.follow.get(step.name, {}).values(), default=math.inf)
            row.require(slowest <= budget, f"{step.name}: a replica followed after {slowest:.1f} s")
        _require_versions(row, records, flip, (old, new), budget)
        return row

    def _step(
        self, replicas: list[Replica], model_dir: Path, step: Step, flip: Flip, body: bytes
    ) -> None:
        """Write the step's file, then watch every replica until it answers by it."""
        _write_json(model_dir / FILE_NAME, step.document)
        flip.marks[step.name] = time.time()

        def probes(replica: Replica) -> list[Probe]:
            found: list[Probe] = [
                partial(_reaches, replica, key, body, version) for key, version in step.keys.items()
            ]
            found.append(lambda: _rollout(replica).get("split") == step.split)
            return found

        timeout = 2 * self.plan.poll_interval_s + 30
        self._watch(replicas, flip, step.name, step.name, timeout, probes)

    def _watch(
        self,
        replicas: list[Replica],
        flip: Flip,
        since: str,
        name: str,
        timeout_s: float,
        probes_of: Callable[[Replica], list[Probe]],
    ) -> None:
        """Each probe of each replica in its own thread until it has answered as wanted
        FOLLOWED_AFTER times in a row (or ``timeout_s``, infinity); a replica's time is
        its slowest probe's first wanted answer after its last unwanted one."""
        began = flip.marks[since]
        jobs = [(replica, probe) for replica in replicas for probe in probes_of(replica)]
        deadline = time.time() + timeout_s
        with ThreadPoolExecutor(len(jobs)) as pool:
            answers = list(pool.map(lambda job: _until_followed(job[1], deadline), jobs))
        follow: dict[str, float] = {}
        for (replica, _), at in zip(jobs, answers, strict=True):
            follow[replica.name] = max(follow.get(replica.name, 0.0), at - began)
        flip.follow[name] = follow


def _until_followed(probe: Probe, deadline: float) -> float:
    """When ``probe`` first answered as wanted in its final run of FOLLOWED_AFTER."""
    streak, first = 0, math.inf
    while time.time() < deadline:
        try:
            wanted = probe()
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            wanted = False
        if wanted:
            first = time.time() if streak == 0 else first
            streak += 1
            if streak >= FOLLOWED_AFTER:
                return first
        else:
            streak = 0
        time.sleep(0.1)
    return math.inf


def _request(
    replica: Replica, method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request on a fresh connection straight to the replica: (status, headers, body)."""
    connection = http.client.HTTPConnection(replica.ip, 8000, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _reaches(replica: Replica, key: str, body: bytes, version: int) -> bool:
    """A classify with route key ``key`` was answered by ``version`` (X-Kerasserve-Version)."""
    headers = {"Content-Type": "image/png", "X-Kerasserve-Route-Key": key}
    status, answer, _ = _request(replica, "POST", f"/v1/classify?model={MODEL}", body, **headers)
    return status == 200 and answer.get("x-kerasserve-version") == str(version)


def _models(replica: Replica) -> dict[str, Any]:
    status, _, body = _request(replica, "GET", "/v1/models")
    if status != 200:
        raise ValueError(f"GET /v1/models answered {status}")
    data: dict[str, Any] = json.loads(body)
    return data


def _rollout(replica: Replica) -> dict[str, Any]:
    rollout: dict[str, Any] = _models(replica)["rollouts"].get(MODEL, {})
    return rollout


def _loaded(version: int, replica: Replica) -> list[Probe]:
    """The one probe of a publication: ``version`` AVAILABLE in the replica's list."""

    def available() -> bool:
        entries = _models(replica)["models"]
        return any(
            e["name"] == MODEL and e["version"] == version and e["state"] == "AVAILABLE"
            for e in entries
        )

    return [available]


def _publish(source: Path, target: Path) -> None:
    """Copy a version beside the others atomically: into a hidden name, then renamed."""
    hidden = target.with_name(f".{target.name}.publishing")
    shutil.copytree(source, hidden)
    hidden.rename(target)


def _write_json(path: Path, document: dict[str, Any]) -> None:
    """Replace ``path`` atomically (a poll never reads half a file), readable by all."""
    hidden = path.with_name(f".{path.name}.writing")
    hidden.write_text(json.dumps(document))
    hidden.chmod(0o644)
    hidden.replace(path)


def _spread(answers: list[tuple[float, bool]], expected: float) -> float:
    """Four standard errors of the canary share, from its variation between 0.1 s slices.

    A replica draws the version once per 5 ms for the requests without a route key, so
    answers come in clusters and the binomial error of single draws would be too
    narrow; slices much longer than a draw hold whole clusters (a ratio estimate over
    clusters). Never below the single-draw error.
    """
    if not answers:
        return 0.0
    slices: dict[int, list[int]] = {}
    for at, new in answers:
        counts = slices.setdefault(int(at / 0.1), [0, 0])
        counts[0] += 1
        counts[1] += new
    share = sum(c for _, c in slices.values()) / len(answers)
    clustered = math.sqrt(sum((c - share * n) ** 2 for n, c in slices.values()))
    single = math.sqrt(expected * (1 - expected) * len(answers))
    return 4 * max(clustered, single) / len(answers)


def _times(name: str, follow: dict[str, float]) -> str:
    # Container names carry the compose project; the service and index say enough.
    each = ", ".join(f"{r.split('_', 1)[-1]} {s:.1f} s" for r, s in sorted(follow.items()))
    return f"{name}: {each}"


def _replica_name(records: Records, index: int) -> str:
    return records.replicas[index] if 0 <= index < len(records.replicas) else "unnamed"


def _require_versions(
    row: Row, records: Records, flip: Flip, versions: tuple[int, int], budget: float
) -> None:
    """Through the balancer: only the old version answered until the canary file was
    written; from two polls (``budget``) after each later write, when every worker of
    every replica has read it, about CANARY_PERCENT% the new one under the canary file
    and only the new one after the promotion; never another version."""
    old, new = versions
    canary_from = flip.marks["canary"] + budget
    promoted = flip.marks["promote"] + budget
    strange, before, after, canary = set(), set(), set(), []
    by_replica: dict[int, list[int]] = {}  # replica index: [answers, from the new version]
    for sent, latency, status, version, replica in zip(
        records.started,
        records.latency,
        records.status,
        records.version,
        records.replica,
        strict=True,
    ):
        if status != 200:
            continue
        at = records.began_at + sent
        if version not in (old, new):
            strange.add(version)
        if at + latency < flip.marks["canary"]:
            before.add(version)
        elif canary_from <= at and at + latency < flip.marks["promote"]:
            canary.append((at, version == new))
            counts = by_replica.setdefault(replica, [0, 0])
            counts[0] += 1
            counts[1] += version == new
        elif at > promoted:
            after.add(version)
    row.require(not strange, f"answers from version(s) {sorted(strange)}")
    row.require(before <= {old}, f"before the canary file, answers from {sorted(before)}")
    row.require(bool(after), "no answers after the promotion to judge")
    row.require(after <= {new}, f"after the promotion, answers from {sorted(after)}")
    expected = CANARY_PERCENT / 100
    share, spread = sum(new for _, new in canary) / max(len(canary), 1), _spread(canary, expected)
    each = ", ".join(
        f"{_replica_name(records, index)} {new_count / answers:.1%}"
        for index, (answers, new_count) in sorted(by_replica.items())
    )
    row.detail += (
        f"; through the balancer, {share:.1%} of {len(canary)} answers from v{new} while "
        f"every worker held the {CANARY_PERCENT}% split ({each})"
    )
    row.require(
        bool(canary) and abs(share - expected) <= spread,
        f"canary share {share:.1%}, not within {spread:.1%} of {expected:.0%}",
    )
