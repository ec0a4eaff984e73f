"""The optional API key guards inference and management, not health (unless asked)."""

import pytest

from tests.service.api.util import assert_problem

KEY = "s3cret-key"


@pytest.fixture
def secured(make_client):
    return make_client(api_key=KEY)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/models"),
        ("get", "/v1/models/clf"),
        ("get", "/v2/models/clf"),
        ("get", "/v1/generate?model=gen&n=1"),
        ("post", "/v1/sequence/predict"),
    ],
)
def test_protected_routes_need_the_key(secured, method, path):
    response = getattr(secured, method)(path)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_key_and_wrong_scheme_are_refused(secured):
    assert_problem(
        secured.get("/v1/models", headers={"Authorization": "Bearer nope"}), 401, "unauthorized"
    )
    assert_problem(
        secured.get("/v1/models", headers={"Authorization": f"Basic {KEY}"}), 401, "unauthorized"
    )


def test_right_key_passes(secured):
    response = secured.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200


def test_health_and_metrics_stay_open(secured):
    for path in ("/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready", "/v2"):
        assert secured.get(path).status_code == 200, path


def test_health_and_metrics_can_be_protected(make_client):
    client = make_client(api_key=KEY, protect_health_and_metrics=True)
    assert_problem(client.get("/metrics"), 401, "unauthorized")
    assert_problem(client.get("/healthz"), 401, "unauthorized")
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200


def test_openapi_declares_the_bearer_scheme(secured):
    schema = secured.get("/openapi.json").json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
