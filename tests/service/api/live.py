"""A real uvicorn server in a background thread, on a free 127.0.0.1 port; helpers for
servers started as subprocesses."""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import uvicorn
from fastapi import FastAPI

from service.config import Settings
from service.main import create_app

REPO = Path(__file__).resolve().parents[3]


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    server: uvicorn.Server

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("http://")


@contextmanager
def serve_in_thread(settings: Settings, start_timeout_s: float = 120) -> Iterator[LiveServer]:
    """Start the app under uvicorn (lifespan included) and stop it on exit."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, server)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: "subprocess.Popen[bytes]", timeout_s: float = 120) -> None:
    """Until ``url``'s /readyz answers 200; fails if the server exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server not ready")


def start_serve(
    models_dir: Path, args: list[str], env: dict[str, str], log: IO[bytes]
) -> "subprocess.Popen[bytes]":
    """`kerasserve serve --models-dir models_dir *args` in a subprocess of this checkout,
    with ``env`` over the defaults (no polling); its output goes to ``log`` (a pipe could
    fill up)."""
    variables = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "KERASSERVE_POLL_INTERVAL_S": "0",
        **env,
    }
    command = [sys.executable, "-m", "service.cli", "serve", "--models-dir", str(models_dir)]
    return subprocess.Popen(
        [*command, *args], cwd=REPO, env=variables, stdout=log, stderr=subprocess.STDOUT
    )
