"""A new model version appears while clients hammer the server: no request fails."""

import asyncio
import time

import httpx
import pytest

from service.config import Settings
from tests.service.api.live import serve_in_thread
from tests.service.api.util import png_bytes
from tests.utils.zoo import export_tiny_classifier

pytestmark = pytest.mark.slow

URL = "/v1/classify?model=tiny_classifier"
HEADERS = {"Content-Type": "image/png"}


async def _hammer(url: str, stop: asyncio.Event) -> list[tuple[int, int | None]]:
    """Eight clients in a loop until `stop`; (status, version) of every answer."""
    seen: list[tuple[int, int | None]] = []
    image = png_bytes()

    async def worker(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            response = await client.post(URL, content=image, headers=HEADERS)
            version = response.json().get("version") if response.status_code == 200 else None
            seen.append((response.status_code, version))

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(8)))
    return seen


async def _reload_under_load(url: str, models_dir) -> list[tuple[int, int | None]]:
    stop = asyncio.Event()
    load = asyncio.create_task(_hammer(url, stop))
    await asyncio.sleep(0.3)
    await asyncio.to_thread(export_tiny_classifier, models_dir, seed=1)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=url) as client:
        while time.monotonic() < deadline:
            response = await client.post(URL, content=png_bytes(), headers=HEADERS)
            if response.json().get("version") == 2:
                break
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # keep the load on while version 1 retires
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
    assert states["2"] == "AVAILABLE"
