"""The playground in a real headless Chromium against the real server and the committed zoo.

Chromium is Debian's (`/usr/bin/chromium`, or `KERASSERVE_CHROMIUM`), driven by
Playwright with an explicit executable path: browser downloads are impossible here.
Each page records console errors, page errors and every request URL; a test fails
if any request leaves 127.0.0.1 or the console shows an error it did not expect.
"""

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from service.config import Settings
from tests.service.api.live import LiveServer, serve_in_thread

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "models"
ARTIFACTS = REPO / "artifacts" / "playground"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    given = os.environ.get("KERASSERVE_CHROMIUM")
    if given:
        return shutil.which(given)
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def playwright_api() -> Any:
    return pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )


# Module scope: Playwright's sync API keeps an event loop running in the main thread
# until it exits, and tests collected after these would find it and fail in asyncio.run().
@pytest.fixture(scope="module")
def browser(playwright_api: Any) -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium browser found (apt-get install chromium, or KERASSERVE_CHROMIUM)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(browser: Any) -> Iterator[LiveServer]:
    """The real service over the repo's models/ (only started once a browser exists)."""
    settings = Settings(
        models_dir=MODELS_DIR,
        poll_interval_s=0,
        log_format="text",
        log_level="WARNING",
        default_models={"classify": "fashion_cnn"},
    )
    with serve_in_thread(settings) as live:
        yield live


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@dataclass
class Recorder:
    """What one page did: requests, console errors and uncaught exceptions."""

    requests: list[Any] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("request", self._on_request)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)

    def _on_request(self, request: Any) -> None:
        self.requests.append(request)

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _on_page_error(self, error: Any) -> None:
        self.console_errors.append(f"uncaught: {error}")

    def expect_console_error(self, fragment: str) -> None:
        """Drop the console errors a test caused on purpose (e.g. a 422 it asked for)."""
        self.console_errors = [text for text in self.console_errors if fragment not in text]

    def foreign_requests(self) -> list[str]:
        urls = [request.url for request in self.requests]
        return [
            url
            for url in urls
            if urlsplit(url).scheme not in ("data", "blob")
            and urlsplit(url).hostname != "127.0.0.1"
        ]


def wait_for_models(page: Any) -> None:
    """Until the model list has loaded (no wait_for_function: the page's CSP forbids eval)."""
    from playwright.sync_api import expect

    expect(page.locator("#models-status")).to_have_text(re.compile(r"(versions?|No models)\.$"))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@contextmanager
def open_playground(browser: Any, url: str, recorder: Recorder) -> Iterator[Any]:
    """A fresh page on the playground at ``url``, its model list loaded; afterwards, no
    console errors and no foreign requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    recorder.watch(page)
    page.goto(url + "/")
    wait_for_models(page)
    yield page
    context.close()
    assert recorder.foreign_requests() == []
    assert recorder.console_errors == []


@pytest.fixture
def page(browser: Any, server: LiveServer, recorder: Recorder) -> Iterator[Any]:
    """A fresh page on the playground over the committed zoo."""
    with open_playground(browser, server.url, recorder) as page:
        yield page
