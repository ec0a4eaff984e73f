"""The OpenAPI document is exact: it resolves, it validates, it declares what each route
answers and who may call it; schemathesis checks it against the live service."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import SecretStr

from service.api.openapi import ROUTE_ERRORS
from service.api.problems import PROBLEM_MEDIA_TYPE
from service.api.router import open_paths
from service.config import Settings
from tests.service.api.conftest import LIVE_SETTINGS
from tests.service.api.live import serve_in_thread

KEY = "contract-key"
CONFIG = Path(__file__).with_name("schemathesis.toml")


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, op) for path, ops in document["paths"].items() for op in ops.values()]


def test_document_validates_and_resolves(make_client):
    document = make_client(api_key=SecretStr(KEY)).get("/openapi.json").json()
    validate(document)  # OpenAPI 3.1, every $ref resolved
    text = json.dumps(document)
    assert "#/$defs/" not in text
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text)):
        assert ref in document["components"]["schemas"], ref


def test_every_route_is_in_the_error_table(make_client):
    """A new route names its own errors in ROUTE_ERRORS (the fallback is a safety net)."""
    document = make_client().get("/openapi.json").json()
    assert set(document["paths"]) - set(ROUTE_ERRORS) == set()


def test_errors_are_problems_with_their_headers(make_client):
    document = make_client(api_key=SecretStr(KEY)).get("/openapi.json").json()
    for path, operation in _operations(document):
        responses = operation["responses"]
        assert {"413", "500"} <= set(responses), path
        for status, response in responses.items():
            assert "X-Request-ID" in response["headers"], (path, status)
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM_MEDIA_TYPE], (path, status)
        if "503" in responses:
            assert "Retry-After" in responses["503"]["headers"]
    classify = document["paths"]["/v1/classify"]["post"]["responses"]
    assert {"400", "401", "404", "413", "415", "422", "503", "504"} <= set(classify)
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]
    assert list(metrics["content"]) == ["text/plain"]


def test_security_follows_the_guard(make_client):
    keyed = make_client(api_key=SecretStr(KEY)).get("/openapi.json").json()
    public = open_paths()
    assert {"/healthz", "/readyz", "/metrics", "/v2/health/ready"} <= public
    for path, operation in _operations(keyed):
        if path in public:
            assert operation["security"] == [], path
            assert "401" not in operation["responses"], path
        else:
            assert operation["security"] == [{"HTTPBearer": []}], path
            assert "401" in operation["responses"], path
    assert "HTTPBearer" in keyed["components"]["securitySchemes"]

    protected = make_client(api_key=SecretStr(KEY), protect_health_and_metrics=True)
    for path, operation in _operations(protected.get("/openapi.json").json()):
        assert operation["security"] == [{"HTTPBearer": []}], path

    open_service = make_client().get("/openapi.json").json()
    for path, operation in _operations(open_service):
        assert operation["security"] == [] and "401" not in operation["responses"], path


def test_settings_limits_are_schema_bounds(make_client):
    document = make_client(max_generate_samples=7, max_top_k=9).get("/openapi.json").json()
    (n,) = [p for p in document["paths"]["/v1/generate"]["get"]["parameters"] if p["name"] == "n"]
    assert n["schema"]["maximum"] == 7
    params = document["paths"]["/v1/classify"]["post"]["parameters"]
    (top_k,) = [p for p in params if p["name"] == "top_k"]
    assert 9 in [branch.get("maximum") for branch in top_k["schema"]["anyOf"]]


@pytest.mark.slow
def test_schemathesis_finds_nothing(zoo_dir, tmp_path):
    """Every check over the whole document, with the key sent; the exclusions and their
    reasons are in schemathesis.toml."""
    settings = Settings(models_dir=zoo_dir, api_key=SecretStr(KEY), **LIVE_SETTINGS)
    with serve_in_thread(settings) as server:
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "--no-color",
            "--config-file",
            str(CONFIG),
            "run",
            f"{server.url}/openapi.json",
            "-H",
            f"Authorization: Bearer {KEY}",
        ]
        run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert generated is not None, run.stdout[-2000:]
    assert int(generated[1]) == int(generated[2]) >= 500, generated[0]
