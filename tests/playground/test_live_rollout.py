"""The model cards follow a rollout live: real Chromium, a real server, two real versions
of a classifier with a versions.json that shadows all traffic to the second. The
shadow's agreement changes on the open page as rows are compared; a hidden page asks
nothing and catches up when shown."""

import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image

from service.config import Settings
from tests.playground.conftest import Recorder, open_playground
from tests.service.api.live import LiveServer, serve_in_thread
from tests.utils.zoo import export_tiny_classifier

pytestmark = pytest.mark.slow
expect = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
).expect

NAME = "tiny_classifier"
ROLLOUT = {
    "version_labels": {"stable": 1, "canary": 2},
    "traffic": {"stable": 100},
    "shadow": {"version_label": "canary", "percent": 100},
}
EVERY_S = 3  # live.js: GET /v1/models every 3 s while the page is visible


@pytest.fixture(scope="module")
def rollout_server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Two versions with different random weights (they agree on some images only)."""
    models = tmp_path_factory.mktemp("live-rollout")
    for seed in (0, 1):
        export_tiny_classifier(models, NAME, seed=seed)
    (models / NAME / "versions.json").write_text(json.dumps(ROLLOUT))
    settings = Settings(
        models_dir=models, poll_interval_s=0, log_format="text", log_level="WARNING"
    )
    with serve_in_thread(settings) as live:
        yield live


def noise_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def compared_rows(client: httpx.Client) -> tuple[int, float | None]:
    """Rows the shadow has compared so far, and the agreement /v1/models reports."""
    report = client.get(f"/v1/models/{NAME}/shadow").json()
    rows = sum(row["agree"] + row["disagree"] + row["error"] for row in report["rows"])
    agreement: float | None = client.get("/v1/models").json()["rollouts"][NAME]["agreement"]
    return rows, agreement


def shadow_until(url: str, done: Callable[[float | None], bool], first_seed: int) -> float:
    """Classify one image at a time (each copied to the shadow) until ``done(agreement)``."""
    with httpx.Client(base_url=url, timeout=30) as client:
        sent, _ = compared_rows(client)
        for seed in range(first_seed, first_seed + 200):
            answer = client.post(
                f"/v1/classify?model={NAME}",
                content=noise_png(seed),
                headers={"content-type": "image/png"},
            )
            assert answer.headers["x-kerasserve-version"] == "1"  # the primary answers
            sent += 1
            for _ in range(200):  # the shadow runs after the answer
                rows, agreement = compared_rows(client)
                if rows >= sent:
                    break
            if agreement is not None and done(agreement):
                return agreement
    raise AssertionError("200 images never moved the agreement")


def shown_agreement(shadow: Any, expected: float) -> None:
    """The card shows ``expected`` as the page rounds it (one decimal)."""
    pattern = re.compile(rf"agreement {re.escape(f'{round(100 * expected, 1):g}')}%")
    expect(shadow).to_contain_text(pattern, timeout=(EVERY_S + 12) * 1000)  # a busy machine


def models_polls(recorder: Recorder) -> int:
    return sum(1 for r in recorder.requests if urlsplit(r.url).path == "/v1/models")


def test_the_shadow_agreement_changes_on_the_open_page(
    browser: Any, rollout_server: LiveServer, recorder: Recorder, artifacts: Path
) -> None:
    with open_playground(browser, rollout_server.url, recorder) as page:
        cards = page.locator("#model-cards")
        stable = cards.locator(f"div.rollout[data-model={NAME}][data-version='1']")
        shadow = cards.locator(f"div.rollout[data-model={NAME}][data-version='2']")
        expect(stable).to_contain_text("stable")
        expect(stable).to_contain_text("100% of requests naming no version")
        expect(shadow).to_contain_text("canary")
        expect(shadow).to_contain_text("no rows compared yet")

        first = shadow_until(rollout_server.url, lambda agreement: True, first_seed=0)
        shown_agreement(shadow, first)  # 0% or 100% after one row
        second = shadow_until(rollout_server.url, lambda now: now != first, first_seed=1000)
        shown_agreement(shadow, second)
        page.locator("#models").screenshot(path=str(artifacts / "models-live-rollout.png"))

        documents = [r for r in recorder.requests if r.resource_type == "document"]
        assert len(documents) == 1  # the same page all along, never reloaded
        assert models_polls(recorder) >= 3  # the load, then the polls that showed both


def set_visibility(page: Any, state: str) -> None:
    """What the browser does when the tab is hidden or shown again."""
    page.evaluate(
        """(state) => {
            Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_a_hidden_page_stops_asking_and_catches_up_when_shown(
    browser: Any, rollout_server: LiveServer, recorder: Recorder
) -> None:
    with open_playground(browser, rollout_server.url, recorder) as page:
        is_poll = lambda request: urlsplit(request.url).path == "/v1/models"  # noqa: E731
        with page.expect_request(is_poll, timeout=(EVERY_S + 2) * 1000):
            pass  # a visible page polls
        set_visibility(page, "hidden")
        hidden_at = models_polls(recorder)
        page.wait_for_timeout((2 * EVERY_S + 1) * 1000)
        assert models_polls(recorder) == hidden_at
        with page.expect_request(is_poll, timeout=1000):
            set_visibility(page, "visible")  # at once, not at the next tick
        with page.expect_request(is_poll, timeout=(EVERY_S + 2) * 1000):
            pass  # and polling again
