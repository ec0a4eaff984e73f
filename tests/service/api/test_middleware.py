"""Request ids, the per-request log line, the body size limit and CORS."""

import logging

from tests.service.api.util import assert_problem, png_bytes


def test_request_id_is_generated_and_echoed(client):
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert len(first) == 32 and first != second


def test_valid_request_id_is_kept_and_invalid_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == (
        "abc-123"
    )
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    too_long = client.get("/healthz", headers={"X-Request-ID": "a" * 200})
    assert len(too_long.headers["x-request-id"]) == 32


def test_one_structured_log_line_per_request(client, caplog):
    caplog.set_level(logging.INFO, logger="kerasserve.access")
    client.post(
        "/v1/sequence/predict",
        json={"model": "fc", "series": [1, 2, 3, 4]},
        headers={"X-Request-ID": "log-1"},
    )
    lines = [r for r in caplog.records if r.name == "kerasserve.access"]
    assert len(lines) == 1
    fields = lines[0].fields
    assert fields["request_id"] == "log-1"
    assert fields["route"] == "/v1/sequence/predict"
    assert (fields["model"], fields["version"], fields["status"]) == ("fc", "1", 200)
    assert fields["method"] == "POST" and fields["latency_ms"] >= 0


def test_declared_body_over_limit_is_refused_before_reading(make_client):
    client = make_client(max_body_bytes=1000)
    response = client.post(
        "/v1/classify?model=clf", content=b"x" * 5000, headers={"Content-Type": "image/png"}
    )
    assert_problem(response, 413, "body_too_large")


def test_streamed_body_over_limit_is_refused(make_client):
    client = make_client(max_body_bytes=1000)

    def chunks():
        for _ in range(10):
            yield b"x" * 500

    response = client.post(
        "/v1/classify?model=clf", content=chunks(), headers={"Content-Type": "image/png"}
    )
    assert_problem(response, 413, "body_too_large")


def test_body_under_limit_passes(make_client):
    client = make_client(max_body_bytes=100_000)
    response = client.post(
        "/v1/classify?model=clf", content=png_bytes(), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 200


def test_cors_is_off_by_default_and_configurable(make_client):
    plain = make_client().get("/healthz", headers={"Origin": "https://a.example"})
    assert "access-control-allow-origin" not in plain.headers
    client = make_client(cors_origins="https://a.example")
    allowed = client.get("/healthz", headers={"Origin": "https://a.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://a.example"
    preflight = client.options(
        "/v1/classify",
        headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
