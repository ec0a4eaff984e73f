"""A live server with an API key: inference refused without it, health still open."""

import httpx
import pytest
from pydantic import SecretStr

from service.config import Settings
from tests.service.api.conftest import LIVE_SETTINGS
from tests.service.api.live import serve_in_thread
from tests.service.api.util import assert_problem

pytestmark = pytest.mark.slow


def test_live_api_key(zoo_dir):
    settings = Settings(
        models_dir=zoo_dir,
        model_names=("tiny_forecaster",),
        api_key=SecretStr("k-123"),
        **LIVE_SETTINGS,
    )
    body = {"series": list(range(12))}
    with serve_in_thread(settings) as server, httpx.Client(base_url=server.url) as http:
        assert_problem(http.post("/v1/sequence/predict", json=body), 401, "unauthorized")
        assert_problem(
            http.get("/v2/models/tiny_forecaster", headers={"Authorization": "Bearer nope"}),
            401,
            "unauthorized",
        )
        ok = http.post("/v1/sequence/predict", json=body, headers={"Authorization": "Bearer k-123"})
        assert ok.status_code == 200
        assert http.get("/readyz").status_code == 200
        assert http.get("/metrics").status_code == 200
