"""Start a server in its own session, wait for it, check it binds loopback only, stop it.

Some peers (Ray, Triton, BentoML) start helper processes; every process is found by
walking /proc from the server's PID, so stopping kills exactly what was started.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

LOOPBACK = {"127.0.0.1", "::1"}
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds of the processes, from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS_PER_S


def rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = str(fd.readlink())
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    return inodes


def _address(hex_address: str) -> str:
    host = hex_address.split(":")[0]
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    address = socket.inet_ntop(socket.AF_INET6, words)
    return address.removeprefix("::ffff:")


def listening(pids: set[int]) -> set[str]:
    """Addresses that the processes listen on (TCP) or bind (UDP)."""
    inodes = _socket_inodes(pids)
    found = set()
    for table, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == state and fields[9] in inodes:
                found.add(_address(fields[1]))
    return found


class Server:
    """One server process group."""

    def __init__(self, argv: list[str], log: Path, cwd: Path, env: dict[str, str]) -> None:
        self.argv, self.log, self.cwd, self.env = argv, log, cwd, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=self.cwd, env={**os.environ, **self.env},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def wait_ready(self, url: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"not ready after {timeout_s:.0f} s: {url}; see {self.log}")

    def pids(self) -> set[int]:
        return descendants(self.process.pid) if self.process else set()

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the group and every descendant, then SIGKILL what is left."""
        if self.process is None:
            return
        pids = self.pids()
        groups = {self.process.pid} | {_pgid(pid) for pid in pids} - {0, os.getpgid(0)}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for group in groups:
                _signal_group(group, sig)
            for pid in pids:
                _signal(pid, sig)
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
                self.process.poll()
                time.sleep(0.2)
            if not any(_alive(pid) for pid in pids):
                break
        self.process.wait(timeout=5)
        self.process = None


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return 0


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(group, sig)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
