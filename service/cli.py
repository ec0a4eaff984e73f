"""`kerasserve serve` runs the service; `kerasserve inspect DIR` shows how it reads a model.

`serve` runs uvicorn with the settings from flags and env.

Flags override `KERASSERVE_*` variables. Logging is configured here, once, for the
whole process. With one worker, SIGTERM marks the app as stopping before uvicorn's
own graceful shutdown begins, so `/readyz` turns 503 at once while in-flight and
queued requests are still answered; uvicorn's graceful timeout is the drain timeout.
"""

import argparse
import importlib.util
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

# TensorFlow's C++ start-up chatter is not the service's log; keep warnings and errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import uvicorn
from pydantic import ValidationError
from uvicorn.supervisors import Multiprocess

from service.config import Settings
from service.logs import configure_logging
from service.server.services import Lifecycle
from service.server.workers import SocketPerWorker, worker_sockets

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger(__name__)

# How long a worker may take to answer its supervisor's ping before it is killed as hung.
# uvicorn's 5 s is shorter than a spawned worker's start on a busy machine (measured on
# two shared cores: every new worker killed, again and again); a dead worker is still
# replaced at once. Kept below compose's stop_grace_period, as SIGTERM waits on the ping.
WORKER_HEALTHCHECK_S = 20

# libuv, under uvloop, accepts one connection per event-loop iteration, and an iteration
# under load takes tens of milliseconds: 2,000 clients connecting at once waited in the
# kernel's accept queue for up to 40 s (measured), past any client timeout. The
# listening socket goes to the server as several descriptors; each accepts one per turn.
ACCEPT_HANDLES = 16

_FLAGS: dict[str, tuple[type, str]] = {
    "host": (str, "address to bind (default 127.0.0.1)"),
    "port": (int, "port to bind (default 8000)"),
    "grpc_port": (int, "gRPC port (KServe V2, TF Serving, health; default 8500, 0 = off)"),
    "grpc_max_message_bytes": (int, "largest gRPC message accepted (default 64 MiB)"),
    "models_dir": (str, "directory of <name>/<version>/ SavedModels (default models)"),
    "workers": (int, "worker processes (default 1)"),
    "required_models": (str, "comma list of models that must be available for /readyz"),
    "default_models": (str, "task=model pairs for requests that name no model"),
    "device": (str, "auto, cpu, gpu or a TF device such as /GPU:1"),
    "version_policy": (str, "latest, all or specific"),
    "poll_interval_s": (float, "seconds between model directory scans; 0 disables"),
    "max_batch_size": (int, "largest dynamic batch"),
    "max_queue_delay_s": (float, "longest a request waits for a batch to fill"),
    "api_key": (str, "require 'Authorization: Bearer <key>' on inference routes"),
    "log_format": (str, "json or text"),
    "log_level": (str, "DEBUG, INFO, WARNING or ERROR"),
}


def _setting_flags() -> dict[str, tuple[type, str]]:
    """Every setting as a flag: the common ones first with their own words, then the
    rest with their default (the environment variable and docs/serving.md say more)."""
    flags = dict(_FLAGS)
    for field, info in Settings.model_fields.items():
        if field not in flags:
            default = info.get_default(call_default_factory=True)
            default = "none" if default is None else default
            if isinstance(default, tuple):
                default = ",".join(str(item) for item in default) or "none"
            flags[field] = (str, f"KERASSERVE_{field.upper()} (default {default})")
    return flags


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kerasserve", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the models over HTTP and gRPC")
    for field, (kind, help_text) in _setting_flags().items():
        serve.add_argument(f"--{field.replace('_', '-')}", dest=field, type=kind, help=help_text)
    inspect = commands.add_parser(
        "inspect", help="print the spec the service resolves for one version, as JSON"
    )
    inspect.add_argument("version_dir", help="a version directory, e.g. models/my_model/1")
    inspect.add_argument(
        "--write", action="store_true", help="save the resolved spec as its model_card.json"
    )
    return parser


def load_settings(args: argparse.Namespace) -> Settings:
    """Flags become `KERASSERVE_*` variables, so worker processes see them too."""
    for key, value in vars(args).items():
        if key in Settings.model_fields and value is not None:
            os.environ[f"KERASSERVE_{key.upper()}"] = str(value)
    return Settings()


class _Server(uvicorn.Server):
    """uvicorn's server, but SIGTERM/SIGINT first flips the app to 'stopping'."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.lifecycle.begin_stopping()
        super().handle_exit(sig, frame)


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "service.api.tcp_nodelay:NoDelay"
        + ("HttpToolsProtocol" if importlib.util.find_spec("httptools") else "H11Protocol"),
        "log_config": None,  # Keep the logging configured by configure_logging().
        "access_log": False,  # One line per request comes from our middleware.
        "timeout_graceful_shutdown": max(1, round(settings.drain_timeout_s)),
        "proxy_headers": True,
    }


def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then drain."""
    if settings.workers > 1:
        # Each worker process builds its own app (and imports TensorFlow) from the
        # KERASSERVE_* environment; the parent never imports TensorFlow, so nothing of
        # its runtime is shared across processes.
        config = uvicorn.Config(
            "service.cli:worker_app",
            factory=True,
            workers=settings.workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            **_uvicorn_options(settings),
        )
        if not settings.reuse_port:
            Multiprocess(config, sockets=listening_sockets(config)).run()
            return
        try:
            slots = worker_sockets(settings.host, settings.port, settings.workers, ACCEPT_HANDLES)
        except OSError as exc:
            logger.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc)
            sys.exit(1)
        SocketPerWorker(config, slots).run()
        return

    from service.main import create_app  # TensorFlow comes in here, in this process only

    app = create_app(settings)
    config = uvicorn.Config(app, **_uvicorn_options(settings))
    _Server(config, app.state.lifecycle).run(sockets=listening_sockets(config))


def listening_sockets(config: uvicorn.Config) -> list[socket.socket]:
    """The bound socket, plus duplicates of it: one accept per descriptor per loop turn."""
    sock = config.bind_socket()
    return [sock, *(sock.dup() for _ in range(ACCEPT_HANDLES - 1))]


def worker_app() -> "FastAPI":
    """The app of one worker process (`--workers` > 1), with the process's own logging.

    Workers are spawned, not forked, so the parent's logging set-up does not reach them;
    without this their access log and start-up messages would be dropped.
    """
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    from service.main import create_app

    return create_app(settings)


def inspect(version_dir: str, write: bool) -> int:
    """Load one version as the service would; print its resolved card or why it is refused."""
    from service.card import ModelCard, write_card
    from service.runtime.loader import LoadError, load_version

    path = Path(version_dir)
    try:
        loaded = load_version(path, "/CPU:0", (1,))
    except (LoadError, OSError, ValueError) as exc:
        logger.error("%s is refused: %s", path, getattr(exc, "reason", exc))
        return 1
    card: ModelCard = loaded.spec.card
    sys.stdout.write(json.dumps(card.to_json(), indent=2) + "\n")
    if write:
        logger.info("wrote %s", write_card(path, card))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "inspect":
        configure_logging("text", "INFO")
        return inspect(args.version_dir, args.write)
    try:
        settings = load_settings(args)
    except ValidationError as exc:
        configure_logging("text", "INFO")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        logger.error("invalid settings: %s", problems)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
