"""Grafana provisioning and the dashboard, checked as files (the Grafana image cannot be
pulled on the test machine, so the container e2e test does not start it)."""

import json
import re
from typing import Any

import yaml

from tests.deploy.conftest import DEPLOY, ROOT, exported_metric_names

GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "kerasserve.json"


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_datasource_is_the_compose_prometheus():
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = config["datasources"]
    assert (source["type"], source["uid"], source["url"]) == (
        "prometheus", "prometheus", "http://prometheus:9090"
    )  # fmt: skip


def test_dashboard_provider_path_is_where_compose_mounts_the_dashboards():
    config = yaml.safe_load((GRAFANA / "provisioning/dashboards/kerasserve.yml").read_text())
    (provider,) = config["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_dashboard_is_well_formed():
    dashboard = _dashboard()
    assert dashboard["uid"] == "kerasserve"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
        assert panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_dashboard_shows_what_the_issue_asks_for():
    exprs = "\n".join(_exprs(_dashboard()))
    for needle in (
        "rate(kerasserve_requests_total",
        'status=~"5.."',
        "histogram_quantile(0.5,",
        "histogram_quantile(0.95,",
        "histogram_quantile(0.99,",
        "kerasserve_batch_size_sum",
        "kerasserve_queue_depth",
        "kerasserve_model_loaded",
    ):
        assert needle in exprs, needle


def test_dashboard_reads_only_metrics_the_service_exports():
    used = set(re.findall(r"kerasserve_[a-z_]+", "\n".join(_exprs(_dashboard()))))
    assert used <= exported_metric_names()
