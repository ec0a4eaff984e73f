"""A live service with gRPC on free ports, over the tiny zoo of real SavedModels."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from service.config import Settings
from tests.service.api.live import LiveServer, free_port, serve_in_thread

RPC_SETTINGS: dict[str, Any] = {
    "poll_interval_s": 0,
    "max_batch_size": 32,
    "batch_sizes": (1, 4, 16, 32),
    "max_queue_delay_s": 0.005,
    "log_format": "text",
    "grpc_max_message_bytes": 16 * 1024 * 1024,
}


@dataclass
class RpcServer:
    http: LiveServer
    target: str  # host:port of gRPC


@pytest.fixture(scope="session")
def rpc_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.utils.zoo import export_tiny_zoo

    models_dir = tmp_path_factory.mktemp("rpc_zoo")
    export_tiny_zoo(models_dir)
    return models_dir


@pytest.fixture(scope="session")
def rpc_live(rpc_zoo: Path) -> Iterator[RpcServer]:
    port = free_port()
    settings = Settings(models_dir=rpc_zoo, grpc_port=port, **RPC_SETTINGS)
    with serve_in_thread(settings) as server:
        yield RpcServer(server, f"127.0.0.1:{port}")


@pytest.fixture
def channel(rpc_live: RpcServer) -> Iterator[grpc.Channel]:
    limit = 200 * 1024 * 1024
    options = [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
    with grpc.insecure_channel(rpc_live.target, options=options) as opened:
        yield opened
