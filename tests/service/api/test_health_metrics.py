"""Health, readiness (including shutdown), model listing and the metrics exposition."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.api.util import assert_problem, png_bytes


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_health_and_readiness(client, fake_repo):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {
        "status": "ready",
        "models": {"clf": [1], "fc": [1], "gen": [1]},
    }
    fake_repo.ready = False
    response = client.get("/readyz")
    assert_problem(response, 503, "not_ready")
    assert response.headers["retry-after"] == "1"
    fake_repo.live = False
    assert_problem(client.get("/healthz"), 503, "not_ready")


def test_readiness_turns_false_when_stopping(client, fake_repo):
    client.app.state.lifecycle.begin_stopping()
    assert_problem(client.get("/readyz"), 503, "stopping")
    assert_problem(client.get("/v2/health/ready"), 503, "not_ready")
    response = client.post("/v1/sequence/predict", json={"model": "fc", "series": [1, 2, 3, 4]})
    assert_problem(response, 503, "stopping")
    assert client.get("/healthz").status_code == 200


def test_lifespan_starts_and_stops_the_repository(make_client, fake_repo):
    client = make_client(drain_timeout_s=7)
    assert fake_repo.started
    client.__exit__(None, None, None)
    assert fake_repo.stopped_with == pytest.approx(7, abs=0.5)
    assert client.app.state.lifecycle.stopping


def test_model_list(client):
    models = client.get("/v1/models").json()["models"]
    assert [(m["name"], m["version"], m["state"]) for m in models] == [
        ("clf", 1, "AVAILABLE"),
        ("fc", 1, "AVAILABLE"),
        ("gen", 1, "AVAILABLE"),
    ]
    assert models[0]["card"]["task"] == "classify" and models[0]["device"] == "/CPU:0"


def test_metrics_exposition_counts_requests_with_bounded_labels(client):
    client.post(
        "/v1/classify?model=clf", content=png_bytes(), headers={"Content-Type": "image/png"}
    )
    for name in ("a", "b", "c"):
        client.get(f"/v2/models/{name}")
    client.get("/not/a/route")
    client.get("/v1/generate", params={"model": "gen", "n": 4})
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    ok = (
        ("endpoint", "/v1/classify"),
        ("model", "clf"),
        ("protocol", "http"),
        ("status", "200"),
        ("version", "1"),
    )
    assert samples[("kerasserve_requests_total", ok)] == 1
    unknown = (
        ("endpoint", "/v2/models/{name}"),
        ("model", "_unknown"),
        ("protocol", "http"),
        ("status", "404"),
        ("version", ""),
    )
    assert samples[("kerasserve_requests_total", unknown)] == 3
    unmatched = (
        ("endpoint", "unmatched"),
        ("model", ""),
        ("protocol", "http"),
        ("status", "404"),
        ("version", ""),
    )
    assert samples[("kerasserve_requests_total", unmatched)] == 1
    assert samples[("kerasserve_images_generated_total", (("model", "gen"),))] == 4
    labels = {dict(key[1]).get("model") for key in samples}
    assert not labels & {"a", "b", "c"}
    histogram = (
        ("endpoint", "/v1/classify"),
        ("le", "+Inf"),
        ("model", "clf"),
        ("protocol", "http"),
        ("version", "1"),
    )
    assert samples[("kerasserve_request_duration_seconds_bucket", histogram)] == 1


def test_runtime_observer_feeds_metrics(client):
    metrics = client.app.state.metrics
    metrics.model_loaded("m", 1, "/CPU:0", 1.5)
    metrics.model_loaded("m", 2, "/CPU:0", 0.5)
    metrics.model_unloaded("m", 2)
    metrics.batch_ran("m", 1, 3, 4, 0.01)
    metrics.queue_wait("m", 1, 0.002)
    metrics.queue_depth("m", 1, 5)
    metrics.rejected("m", 1, "queue_full")
    metrics.model_load_failed("m", 3, "broken")
    samples = _samples(client.get("/metrics").text)
    mv = (("model", "m"), ("version", "1"))
    assert samples[("kerasserve_model_loaded", mv)] == 1
    assert samples[("kerasserve_model_loaded", (("model", "m"), ("version", "2")))] == 0
    assert samples[("kerasserve_model_version", (("model", "m"),))] == 1
    assert samples[("kerasserve_model_load_seconds", mv)] == 1.5
    assert samples[("kerasserve_batch_size_sum", mv)] == 3
    assert samples[("kerasserve_inference_duration_seconds_count", mv)] == 1
    assert samples[("kerasserve_queue_wait_seconds_count", mv)] == 1
    assert samples[("kerasserve_queue_depth", mv)] == 5
    assert (
        samples[("kerasserve_rejected_requests_total", (("model", "m"), ("reason", "queue_full")))]
        == 1
    )
    assert samples[("kerasserve_model_load_failures_total", (("model", "m"),))] == 1


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/v1/classify",
        "/v1/models/{name}:predict",
        "/v2/models/{name}/infer",
        "/metrics",
    ):
        assert path in paths
    classify_body = paths["/v1/classify"]["post"]["requestBody"]["content"]
    assert {"image/png", "multipart/form-data"} <= classify_body.keys()
