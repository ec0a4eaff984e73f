"""Fixtures for HTTP unit tests: an app over a fake repository, driven by TestClient."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from service.config import Settings
from service.main import create_app
from tests.fakes.models import (
    FakeModel,
    FakeRepository,
    fake_classifier,
    fake_forecaster,
    fake_generator,
)
from tests.service.api.live import LiveServer, serve_in_thread

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def fake_repo() -> FakeRepository:
    return FakeRepository(fake_classifier(), fake_forecaster(), fake_generator())


@pytest.fixture
def make_client(tmp_path: Path, fake_repo: FakeRepository) -> Iterator[ClientFactory]:
    """Build an app with setting overrides over `fake_repo` and enter its lifespan."""
    clients: list[TestClient] = []

    def build(repo: FakeRepository | None = None, **overrides: Any) -> TestClient:
        settings = Settings(models_dir=tmp_path, **overrides)
        chosen = repo or fake_repo
        app = create_app(settings, repository_factory=lambda _s, _m: chosen)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny real SavedModel of each family (random weights)."""
    from tests.utils.zoo import export_tiny_zoo

    models_dir = tmp_path_factory.mktemp("zoo")
    export_tiny_zoo(models_dir)
    return models_dir


LIVE_SETTINGS: dict[str, Any] = {
    "poll_interval_s": 0,
    "max_batch_size": 32,
    "batch_sizes": (1, 4, 16, 32),
    "max_queue_delay_s": 0.005,
    "log_format": "text",
    "max_body_bytes": 200_000,
}


@pytest.fixture(scope="session")
def live(zoo_dir: Path) -> Iterator[LiveServer]:
    """The real service over the tiny zoo, listening on a free port."""
    with serve_in_thread(Settings(models_dir=zoo_dir, **LIVE_SETTINGS)) as server:
        yield server


@pytest.fixture
def clf(fake_repo: FakeRepository) -> FakeModel:
    """The fake classifier, for tests that check what it was fed."""
    return fake_repo.get("clf")
