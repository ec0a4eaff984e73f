"""A new model version appears while clients hammer the server: no request fails."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from service.config import Settings
from tests.service.api.live import serve_in_thread
from tests.service.api.util import png_bytes
from tests.utils.zoo import export_tiny_classifier

pytestmark = pytest.mark.slow

URL = "/v1/classify?model=tiny_classifier"
HEADERS = {"Content-Type": "image/png"}


WORKERS = 8


async def _hammer(
    url: str, stop: asyncio.Event, latest: list[int | None]
) -> list[tuple[int, int | None]]:
    """WORKERS clients in a loop until `stop`; (status, version) of every answer, and in
    `latest` the version each client was answered by last."""
    seen: list[tuple[int, int | None]] = []
    image = png_bytes()

    async def worker(client: httpx.AsyncClient, index: int) -> None:
        while not stop.is_set():
            response = await client.post(URL, content=image, headers=HEADERS)
            version = response.json().get("version") if response.status_code == 200 else None
            seen.append((response.status_code, version))
            latest[index] = version

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(*(worker(client, index) for index in range(WORKERS)))
    return seen


async def _until(event: str, check: Callable[[], Awaitable[bool]], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"{event} did not happen within {timeout_s} s"
        await asyncio.sleep(0.05)


async def _reload_under_load(url: str, models_dir) -> list[tuple[int, int | None]]:
    stop = asyncio.Event()
    latest: list[int | None] = [None] * WORKERS
    load = asyncio.create_task(_hammer(url, stop, latest))

    async def answered() -> bool:
        return load.done() or all(version is not None for version in latest)

    async def retired() -> bool:
        response = await client.get("/v1/models/tiny_classifier")
        states = {s["version"]: s["state"] for s in response.json()["model_version_status"]}
        return load.done() or states.get("1") == "END"

    async def all_on_2() -> bool:
        return load.done() or all(version == 2 for version in latest)

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await _until("every client answered by version 1", answered)
        await asyncio.to_thread(export_tiny_classifier, models_dir, seed=1)
        # The load stays on while version 2 loads and version 1 retires, ...
        await _until("version 1 retiring", retired)
        # ... until every client has been answered by version 2: nothing after is version 1.
        await _until("every client moving to version 2", all_on_2)
    stop.set()
    return await load


def test_hot_reload_under_load_fails_no_request(tmp_path):
    export_tiny_classifier(tmp_path)
    settings = Settings(
        models_dir=tmp_path, poll_interval_s=0.2, max_batch_size=8, batch_sizes=(1, 8)
    )
    with serve_in_thread(settings) as server:
        seen = asyncio.run(_reload_under_load(server.url, tmp_path))
        statuses = httpx.get(server.url + "/v1/models/tiny_classifier").json()
    assert {status for status, _ in seen} == {200}
    versions = [version for _, version in seen]
    assert versions[0] == 1 and versions[-1] == 2
    states = {entry["version"]: entry["state"] for entry in statuses["model_version_status"]}
    assert states["1"] == "END" and states["2"] == "AVAILABLE"
