"""A real server under load (c=32) while versions.json is rewritten ten times in 15 s:
no request fails, and every answer comes from a version its moment's file allowed."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.config import Settings
from tests.service.api.conftest import LIVE_SETTINGS
from tests.service.api.live import serve_in_thread
from tests.service.api.util import png_bytes
from tests.utils.zoo import export_tiny_classifier

pytestmark = pytest.mark.slow

NAME = "tiny_classifier"
CLIENTS = 32
URL = f"/v1/classify?model={NAME}"
Periods = list[tuple[float, set[int]]]  # from when each set of versions was allowed

# (file, versions its split may reach); version 3 is the newest and always loaded.
CONFIGS: list[tuple[dict[str, Any], set[int]]] = [
    ({"version_labels": {"stable": 3, "canary": 1}, "traffic": {"stable": 90, "canary": 10}},
     {1, 3}),
    ({"version_labels": {"stable": 3}, "traffic": {"stable": 1}}, {3}),
    ({"version_labels": {"stable": 3, "canary": 2}, "traffic": {"stable": 50, "canary": 50},
      "shadow": {"version_label": "canary", "percent": 100}}, {2, 3}),
    ({"traffic": {"2": 1, "3": 1}}, {2, 3}),
    ({"version_labels": {"stable": 3}, "traffic": {"stable": -1}}, set()),  # refused
    ({"version_labels": {"old": 1}, "traffic": {"old": 3, "3": 1}}, {1, 3}),
]  # fmt: skip


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rollout")
    for seed in range(3):
        export_tiny_classifier(root, NAME, seed=seed)
    return root


async def _in_force(client: httpx.AsyncClient, document: dict[str, Any]) -> None:
    """Until /v1/models shows ``document`` in force (or refused, for a bad one)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = (await client.get("/v1/models")).json()["rollouts"].get(NAME, {})
        if state.get("file") == "refused" and "-1" in json.dumps(document):
            return
        traffic = {key: float(value) for key, value in document.get("traffic", {}).items()}
        if state.get("file") == "in force" and state.get("traffic") == traffic:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{document} never came into force")


async def _run(url: str, models_dir: Path) -> tuple[list[tuple[float, float, int, int]], Periods]:
    answers: list[tuple[float, float, int, int]] = []  # sent, answered, status, version
    periods: Periods = []
    stop = asyncio.Event()
    image = png_bytes()

    async def client_loop(client: httpx.AsyncClient, index: int) -> None:
        headers = {"Content-Type": "image/png"}
        if index % 2:
            headers["X-Kerasserve-Route-Key"] = f"user-{index}"
        while not stop.is_set():
            sent = time.monotonic()
            response = await client.post(URL, content=image, headers=headers)
            version = int(response.headers.get("x-kerasserve-version", 0))
            answers.append((sent, time.monotonic(), response.status_code, version))

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        first, allowed = CONFIGS[0]
        (models_dir / NAME / "versions.json").write_text(json.dumps(first))
        await _in_force(client, first)
        periods.append((time.monotonic(), allowed))
        load = [asyncio.create_task(client_loop(client, i)) for i in range(CLIENTS)]
        started = time.monotonic()
        for step in range(1, 11):
            await asyncio.sleep(max(0.0, started + 1.5 * step - time.monotonic()))
            document, allowed = CONFIGS[step % len(CONFIGS)]
            written = time.monotonic()
            (models_dir / NAME / "versions.json").write_text(json.dumps(document))
            await _in_force(client, document)
            if allowed:  # both sets are possible between the write and "in force"
                periods.append((written, periods[-1][1] | allowed))
                periods.append((time.monotonic(), allowed))
        stop.set()
        await asyncio.gather(*load)
    return answers, periods


def _allowed(periods: Periods, sent: float, answered: float) -> set[int]:
    allowed: set[int] = set()
    for index, (since, versions) in enumerate(periods):
        until = periods[index + 1][0] if index + 1 < len(periods) else float("inf")
        if since <= answered and until >= sent:
            allowed |= versions
    return allowed


def test_rewriting_versions_json_under_load_fails_nothing(models_dir):
    settings = Settings(models_dir=models_dir, **{**LIVE_SETTINGS, "poll_interval_s": 0.1})
    with serve_in_thread(settings) as server:
        started = time.monotonic()
        answers, periods = asyncio.run(_run(server.url, models_dir))
        elapsed = time.monotonic() - started
    assert elapsed < 40
    assert len(answers) > 500
    failed = [answer for answer in answers if answer[2] != 200]
    assert not failed, failed[:5]
    wrong = [a for a in answers if a[3] not in _allowed(periods, a[0], a[1])]
    assert not wrong, wrong[:5]
    assert {version for *_, version in answers} == {1, 2, 3}
