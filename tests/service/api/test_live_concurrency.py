"""200 simultaneous classify requests over real sockets: all right, and batched."""

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.api.util import png_bytes

pytestmark = pytest.mark.slow

IMAGES = [png_bytes(value=25 * (i + 1), size=(20 + 4 * i, 28)) for i in range(10)]
URL = "/v1/classify?model=tiny_classifier&top_k=3"
HEADERS = {"Content-Type": "image/png"}


def _batch_histogram(text: str) -> dict[str, float]:
    for family in text_string_to_metric_families(text):
        if family.name == "kerasserve_batch_size":
            return {
                sample.labels["le"]: sample.value
                for sample in family.samples
                if sample.name.endswith("_bucket") and sample.labels["model"] == "tiny_classifier"
            }
    return {}


async def _storm(url: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        calls = [
            client.post(URL, content=IMAGES[i % len(IMAGES)], headers=HEADERS) for i in range(count)
        ]
        return await asyncio.gather(*calls)


def test_200_concurrent_classify_requests_are_batched_and_correct(live):
    expected = [
        httpx.post(live.url + URL, content=image, headers=HEADERS).json() for image in IMAGES
    ]
    before = _batch_histogram(httpx.get(live.url + "/metrics").text)
    responses = asyncio.run(_storm(live.url, 200))
    assert [r.status_code for r in responses] == [200] * 200
    for i, response in enumerate(responses):
        got, want = response.json()["top_k"], expected[i % len(IMAGES)]["top_k"]
        assert [entry["index"] for entry in got] == [entry["index"] for entry in want]
        for mine, theirs in zip(got, want, strict=True):
            assert mine["score"] == pytest.approx(theirs["score"], abs=1e-5)
    after = _batch_histogram(httpx.get(live.url + "/metrics").text)
    batches = after["+Inf"] - before.get("+Inf", 0)
    single = after["1.0"] - before.get("1.0", 0)
    assert batches < 200, "every request ran alone: no dynamic batching"
    assert batches - single > 0, "no batch larger than one was observed"
