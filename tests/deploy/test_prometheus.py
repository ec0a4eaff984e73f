"""Prometheus config and alert rules: promtool checks and unit tests, plus a guard that
the rules only read metrics the service really exports."""

import re
import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, exported_metric_names, require_tool

PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "rules" / "kerasserve.yml"
RULE_TESTS = PROMETHEUS / "tests" / "kerasserve_test.yml"
REQUIRED_ALERTS = {
    "KerasserveTargetDown",
    "KerasserveHighErrorRatio",
    "KerasserveHighLatencyP99",
    "KerasserveQueueSaturated",
    "KerasserveModelNotLoaded",
    "KerasserveModelLoadFailed",
    "KerasserveReplicaHighErrorRatio",
}


def promtool(*args: str) -> None:
    tool = require_tool("promtool", "apt-get install prometheus")
    result = subprocess.run(
        [tool, *args], capture_output=True, text=True, cwd=PROMETHEUS, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config():
    promtool("check", "config", "prometheus.yml")


def test_promtool_check_rules():
    promtool("check", "rules", str(RULES.relative_to(PROMETHEUS)))


def test_promtool_rule_unit_tests():
    promtool("test", "rules", str(RULE_TESTS.relative_to(PROMETHEUS)))


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_required_alert_exists_and_has_a_unit_test():
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert alerts >= REQUIRED_ALERTS
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert firing == alerts, "every alert needs a unit test in which it fires"


def test_rules_read_only_metrics_the_service_exports():
    exported = exported_metric_names()
    used = set()
    for rule in _rules():
        used |= set(re.findall(r"(?<![:\w])kerasserve_[a-z_]+\b(?!:)", rule["expr"]))
    missing = used - exported
    assert not missing, f"rules use metrics the service does not export: {sorted(missing)}"
    assert used, "the rules should read kerasserve_ metrics"


def test_scrape_job_matches_the_rules_and_finds_replicas_by_dns():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"kerasserve", "haproxy"}
    api = jobs["kerasserve"]
    assert api["metrics_path"] == "/metrics"
    # Every replica of the compose service `api`, however many: no fixed target list.
    assert "static_configs" not in api
    (dns,) = api["dns_sd_configs"]
    assert dns["names"] == ["api"] and dns["type"] == "A" and dns["port"] == 8000
    assert config["rule_files"] == ["rules/*.yml"]


@pytest.mark.parametrize("expected", sorted(REQUIRED_ALERTS))
def test_alerts_have_severity_and_summary(expected):
    (rule,) = [r for r in _rules() if r.get("alert") == expected]
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"]
