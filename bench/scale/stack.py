"""The running scale stack as the fault tests see it: containers, HAProxy, Prometheus.

Everything goes through the docker CLI, HAProxy's CSV statistics and Prometheus's HTTP
API on 127.0.0.1; nothing here needs a Python package beyond the standard library.
"""

import csv
import io
import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.scale.loadgen import Records

T = TypeVar("T")
REPLICA_SERVICES = ("api", "api-w2")


class StackError(RuntimeError):
    """The stack did not do what a fault test needed (a command failed, a wait timed out)."""


@dataclass(frozen=True)
class Replica:
    """One API container: its id, compose service, address on the compose network."""

    id: str
    name: str
    service: str
    ip: str


@dataclass(frozen=True)
class Server:
    """One HAProxy server slot: its name, state, address and sessions in flight."""

    name: str
    status: str  # UP, DOWN, MAINT (resolution), "UP 1/2", ...
    address: str  # ip:port, or empty while the slot has none
    current: int  # sessions in flight now
    total: int  # sessions since start
    check: str = ""  # result of the last health check: L7OK, L4CON, L7STS, ...

    @property
    def up(self) -> bool:
        """UP after a passed /readyz check (a newly resolved slot starts UP unchecked)."""
        return self.status.startswith("UP") and self.check == "L7OK"

    @property
    def in_rotation(self) -> bool:
        """Taking traffic: UP, also while its last probes failed but fewer than `fall`
        ("UP 1/3"), which `up` would not count."""
        return self.status.startswith("UP") and bool(self.address)


@dataclass
class Stack:
    project: str
    compose_files: list[Path]
    root: Path
    lb_port: int
    stats_port: int
    prometheus_port: int
    models_dir: Path
    lb_grpc_port: int = 18600
    docker: str = "/usr/bin/docker"
    env: dict[str, str] = field(default_factory=dict)

    # -- docker -----------------------------------------------------------------
    def run(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        result = subprocess.run(
            list(args), capture_output=True, text=True, timeout=timeout, cwd=self.root, env=self.env
        )
        if check and result.returncode != 0:
            raise StackError(f"{' '.join(args)}: {result.stderr.strip()[-500:]}")
        return result.stdout

    def compose(self, *args: str, timeout: float = 300) -> str:
        files = [arg for path in self.compose_files for arg in ("-f", str(path))]
        return self.run("docker-compose", "-p", self.project, *files, *args, timeout=timeout)

    def replicas(self) -> list[Replica]:
        found = []
        for service in REPLICA_SERVICES:
            for cid in self.compose("ps", "-q", service).split():
                info = self.inspect(cid)
                networks = info["NetworkSettings"]["Networks"]
                ip = next(iter(networks.values()))["IPAddress"] if networks else ""
                found.append(Replica(cid, info["Name"].lstrip("/"), service, ip))
        return sorted(found, key=lambda r: (r.service, r.name))

    def inspect(self, cid: str) -> dict[str, Any]:
        data: list[dict[str, Any]] = json.loads(self.run(self.docker, "inspect", cid))
        return data[0]

    def healthy(self, cid: str) -> bool:
        state = self.inspect(cid)["State"]
        return bool(state["Running"]) and state.get("Health", {}).get("Status") == "healthy"

    def logs_since(self, cid: str, since: float) -> str:
        stamp = f"{since:.3f}"
        result = subprocess.run(
            [self.docker, "logs", "--since", stamp, cid],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env,
        )
        return result.stdout + result.stderr

    def processes(self, cid: str) -> list[tuple[int, int, str]]:
        """(host pid, host parent pid, command line) of every process in the container."""
        out = self.run(self.docker, "top", cid, "-eo", "pid,ppid,args")
        rows = []
        for line in out.splitlines()[1:]:
            pid, ppid, args = line.split(None, 2)
            rows.append((int(pid), int(ppid), args))
        return rows

    def memory_bytes(self, cid: str) -> int:
        """Resident memory of the container's processes plus its tmpfs (cgroup v1 or v2)."""
        full = self.inspect(cid)["Id"]
        for stat in (
            Path(f"/sys/fs/cgroup/memory/docker/{full}/memory.stat"),
            Path(f"/sys/fs/cgroup/system.slice/docker-{full}.scope/memory.stat"),
        ):
            if stat.is_file():
                values = dict(line.split() for line in stat.read_text().splitlines())
                if "total_rss" in values:
                    return int(values["total_rss"]) + int(values.get("total_shmem", 0))
                return int(values.get("anon", 0)) + int(values.get("shmem", 0))
        raise StackError(f"no cgroup memory statistics for {cid}")

    # -- HAProxy ----------------------------------------------------------------
    def servers(self, backend: str = "replicas") -> dict[str, Server]:
        """HAProxy's slots of ``backend`` (`replicas` for HTTP, `grpc_replicas` for gRPC)."""
        url = f"http://127.0.0.1:{self.stats_port}/stats;csv"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode().lstrip("# ")
        servers = {}
        for row in csv.DictReader(io.StringIO(text)):
            if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND"):
                servers[row["svname"]] = Server(
                    row["svname"],
                    row["status"],
                    row.get("addr", ""),
                    int(row["scur"] or 0),
                    int(row["stot"] or 0),
                    row.get("check_status", ""),
                )
        return servers

    def server_of(self, replica: Replica, backend: str = "replicas") -> Server | None:
        """The slot of ``backend`` that points at ``replica`` now, if any."""
        for server in self.servers(backend).values():
            if server.address.split(":")[0] == replica.ip:
                return server
        return None

    # -- Prometheus -------------------------------------------------------------
    def prometheus(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        url = f"http://127.0.0.1:{self.prometheus_port}{path}" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise StackError(f"Prometheus {path}: {body}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.prometheus("/api/v1/query", query=promql)["result"]
        return result

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        alerts = self.prometheus("/api/v1/alerts")["alerts"]
        return [
            a
            for a in alerts
            if a["labels"].get("alertname") == alertname and a["state"] == "firing"
        ]


def wait_for(what: str, check: Callable[[], T | None], timeout_s: float, every_s: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; StackError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = check()
        except (OSError, StackError, subprocess.TimeoutExpired, json.JSONDecodeError):
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


class Load:
    """The load client in its own process (its CPU is not the orchestrator's)."""

    def __init__(
        self,
        port: int,
        body: Path,
        out: Path,
        *,
        connections: int,
        max_seconds: float,
        path: str,
        expect: str = "",
        slow: int = 0,
        grpc: bool = False,
    ) -> None:
        self.out = out
        args = [
            sys.executable, "-m", "bench.scale.loadgen", "--port", str(port), "--path", path,
            "--body", str(body), "--connections", str(connections),
            "--duration", str(max_seconds), "--out", str(out),
        ]  # fmt: skip
        if expect:
            args += ["--expect", expect]
        if slow:
            args += ["--slow", str(slow)]
        if grpc:
            args.append("--grpc")
        self.started = time.time()
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(args, cwd=root, stdout=subprocess.PIPE, text=True)

    def elapsed(self) -> float:
        return time.time() - self.started

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def records(self, timeout_s: float = 60) -> Records:
        """Stop (if still running), wait for the client to write its records, read them."""
        self.stop()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise StackError("the load client did not stop") from None
        if self.process.returncode != 0:
            raise StackError(f"the load client exited with {self.process.returncode}")
        return Records.from_json(json.loads(self.out.read_text()))

    def raw(self, timeout_s: float = 120) -> Any:
        """For a client that writes something else than Records (slow clients)."""
        self.process.wait(timeout=timeout_s)
        return json.loads(self.out.read_text())
