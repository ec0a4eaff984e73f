"""`--workers 2`: each worker listens on its own socket, so connections are spread out;
a worker that dies loses its socket at once, so the live one takes every new connection
while the replacement loads, and the replacement then joins on a fresh socket."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.service.api.live import free_port, wait_ready

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
CONNECTIONS = 64
ESTABLISHED = "01"
LISTENING = "0A"


def _workers(pid: int) -> list[int]:
    """The server's worker processes (its other child is multiprocessing's tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _sockets_on(port: int, state: str) -> set[str]:
    """Inodes of TCP sockets in ``state`` whose local port is ``port`` (the server's ends)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == state:
            inodes.add(fields[9])
    return inodes


def _wait_listening(port: int, sockets: int, exact: bool = False, timeout_s: float = 180) -> None:
    """A worker listens once its models are loaded; /readyz answers from the first.
    Waits for at least ``sockets`` listening sockets, or exactly that many."""
    deadline = time.monotonic() + timeout_s
    while (
        (len(_sockets_on(port, LISTENING)) != sockets)
        if exact
        else (len(_sockets_on(port, LISTENING)) < sockets)
    ):
        assert time.monotonic() < deadline, "not every worker started listening"
        time.sleep(0.2)


def _ask_on(clients: list[socket.socket]) -> list[bytes]:
    """One keep-alive request on every connection; each one's status line."""
    for client in clients:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    return [client.recv(4096).split(b"\r\n", 1)[0] for client in clients]


def test_two_workers_share_connections_and_a_dead_one_is_replaced_on_its_socket(zoo_dir, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "KERASSERVE_MODEL_NAMES": "tiny_forecaster",
        "KERASSERVE_POLL_INTERVAL_S": "0",
        "KERASSERVE_BATCH_SIZES": "1,4",
        "KERASSERVE_MAX_BATCH_SIZE": "4",
    }
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"]
    command += ["--models-dir", str(zoo_dir)]
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
    try:
        wait_ready(url, process, timeout_s=180)
        _wait_listening(port, 2)
        workers = _workers(process.pid)
        assert len(workers) == 2
        listening = _sockets_on(port, LISTENING)
        own = [_socket_inodes(worker) & listening for worker in workers]
        assert [len(sockets) for sockets in own] == [1, 1] and own[0] != own[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
        try:
            assert set(_ask_on(clients)) == {b"HTTP/1.1 200 OK"}
            served = _sockets_on(port, ESTABLISHED)
            shares = [len(_socket_inodes(worker) & served) for worker in workers]
        finally:
            for client in clients:
                client.close()
        assert sum(shares) == CONNECTIONS
        # Spread by the kernel's hash: fewer than 16 of 64 has odds of about 1 in 100,000.
        assert min(shares) >= 16, f"connections per worker: {shares}"

        os.kill(workers[0], signal.SIGKILL)
        _wait_listening(port, 1, exact=True, timeout_s=10)  # the dead worker's socket closed
        # The replacement is still loading (TensorFlow alone takes seconds to import): the
        # live worker answers every new connection at once, none waits for it.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
        try:
            for client in clients:
                client.settimeout(5)
            assert set(_ask_on(clients)) == {b"HTTP/1.1 200 OK"}
            served = _sockets_on(port, ESTABLISHED)
            assert len(_socket_inodes(workers[1]) & served) == 16
        finally:
            for client in clients:
                client.close()
        replacement = set(_workers(process.pid)) - set(workers)
        assert len(replacement) == 1, "the dead worker was not replaced"
        _wait_listening(port, 2)  # the replacement joins on its fresh socket
        assert len(_socket_inodes(replacement.pop()) & _sockets_on(port, LISTENING)) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
