"""`--workers 2`: each worker listens on its own socket, so connections are spread out;
a worker that dies loses its socket at once, so the live one takes every new connection
while the replacement loads, and the replacement then joins on a fresh socket."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.api.live import free_port, wait_ready
from tests.utils.processes import (
    ESTABLISHED,
    LISTENING,
    socket_inodes,
    sockets_on,
    wait_listening,
    worker_pids,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
CONNECTIONS = 64


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
        wait_listening(port, 2)
        workers = worker_pids(process.pid)
        assert len(workers) == 2
        listening = sockets_on(port, LISTENING)
        own = [socket_inodes(worker) & listening for worker in workers]
        assert [len(sockets) for sockets in own] == [1, 1] and own[0] != own[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
        try:
            assert set(_ask_on(clients)) == {b"HTTP/1.1 200 OK"}
            served = sockets_on(port, ESTABLISHED)
            shares = [len(socket_inodes(worker) & served) for worker in workers]
        finally:
            for client in clients:
                client.close()
        assert sum(shares) == CONNECTIONS
        # Spread by the kernel's hash: fewer than 16 of 64 has odds of about 1 in 100,000.
        assert min(shares) >= 16, f"connections per worker: {shares}"

        os.kill(workers[0], signal.SIGKILL)
        wait_listening(port, 1, exact=True, timeout_s=10)  # the dead worker's socket closed
        # The replacement is still loading (TensorFlow alone takes seconds to import): the
        # live worker answers every new connection at once, none waits for it.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
        try:
            for client in clients:
                client.settimeout(5)
            assert set(_ask_on(clients)) == {b"HTTP/1.1 200 OK"}
            served = sockets_on(port, ESTABLISHED)
            assert len(socket_inodes(workers[1]) & served) == 16
        finally:
            for client in clients:
                client.close()
        replacement = set(worker_pids(process.pid)) - set(workers)
        assert len(replacement) == 1, "the dead worker was not replaced"
        wait_listening(port, 2)  # the replacement joins on its fresh socket
        assert len(socket_inodes(replacement.pop()) & sockets_on(port, LISTENING)) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
