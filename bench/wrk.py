"""Run wrk against one URL and parse what `post.lua` prints when it is done."""

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "post.lua"
_SUMMARY = re.compile(r"^BENCH_JSON (\{.*\})$", re.MULTILINE)


@dataclass(frozen=True)
class Target:
    """What every request of one benchmark point sends."""

    path: str
    body: Path | None = None
    method: str = "POST"
    content_type: str = "image/png"
    header: str = ""  # one extra "Name: value" header


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int  # connect + read + write
    timeouts: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        """Successful (2xx/3xx) responses per second."""
        return (self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors + self.timeouts


def parse(output: str) -> WrkResult:
    """The result from wrk's stdout; ValueError when the Lua summary line is missing."""
    match = _SUMMARY.search(output)
    if match is None:
        raise ValueError(f"no BENCH_JSON line in wrk output: {output[-500:]!r}")
    data = json.loads(match.group(1))
    errors, latency = data["errors"], data["latency_us"]
    return WrkResult(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        non_2xx=int(errors["status"]),
        socket_errors=int(errors["connect"] + errors["read"] + errors["write"]),
        timeouts=int(errors["timeout"]),
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
    )


def run(base_url: str, target: Target, connections: int, seconds: float) -> WrkResult:
    """One wrk run (one thread: the load generator shares the machine's cores)."""
    env = {
        **os.environ,
        "BENCH_PATH": target.path,
        "BENCH_METHOD": target.method,
        "BENCH_BODY": str(target.body) if target.body else "",
        "BENCH_CONTENT_TYPE": target.content_type,
        "BENCH_HEADER": target.header,
    }
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(LUA), base_url,
    ]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
    return parse(done.stdout)


def warm_up(base_url: str, target: Target, connections: int, seconds: float) -> None:
    """Load the server for ``seconds``, then wait until what that left queued is done.

    wrk stops with up to ``connections`` requests still in the server's queues; their
    callers are gone but the server still works them off (a 64-client run of 16-image
    generations leaves a full 1,024-row queue). One more request waits behind them,
    so the measured run starts on an idle server instead of one refusing work.
    """
    if seconds > 0:
        run(base_url, target, connections, seconds)
    send_once(base_url, target)


def send_once(base_url: str, target: Target, timeout_s: float = 60.0) -> int:
    """One request as wrk would send it; its HTTP status (errors included)."""
    headers = {"Content-Type": target.content_type} if target.body else {}
    if target.header:
        name, _, value = target.header.partition(":")
        headers[name.strip()] = value.strip()
    request = urllib.request.Request(
        base_url + target.path,
        data=target.body.read_bytes() if target.body else None,
        headers=headers,
        method=target.method,
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
