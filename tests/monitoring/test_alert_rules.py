"""The alert rules, the dashboard and the Prometheus and Grafana provisioning: valid, tested, wired together."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.support import monitoring
from tests.support.monitoring import (
    DASHBOARD,
    GRAFANA,
    PROMETHEUS_CONFIG,
    ROOT,
    RULE_TESTS,
    RULES,
    alerts,
    dashboard,
    dashboard_exprs,
    dashboard_panels,
    recorded_names,
    run_promtool,
)


def test_promtool_checks_the_rules():
    result = run_promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(monitoring.rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass():
    result = run_promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_prometheus_config_is_valid_and_loads_the_rules():
    result = run_promtool("check", "config", PROMETHEUS_CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["rule_files"] == [RULES.name]
    [job] = config["scrape_configs"]
    # The rules watch up{job="chatju"}; the web service answers /metrics for every process.
    assert job["job_name"] == "chatju"
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["web:8000"]}]


def test_a_broken_unit_test_fails_promtool(tmp_path):
    """The runner reports failures: an expectation that is wrong does not pass."""
    (tmp_path / RULES.name).write_text(RULES.read_text())
    suite = yaml.safe_load(RULE_TESTS.read_text())
    [case] = [test for test in suite["tests"] if test["name"] == "webhook events out of retries"]
    firing = case["alert_rule_test"][-1]["exp_alerts"][0]["exp_annotations"]
    firing["description"] = firing["description"].replace("2 toss", "3 toss")
    (tmp_path / RULE_TESTS.name).write_text(yaml.safe_dump({**suite, "tests": [case]}))
    result = run_promtool("test", "rules", str(tmp_path / RULE_TESTS.name))
    assert result.returncode != 0
    assert "ChatjuWebhookEventsFailed" in result.stdout + result.stderr


def test_every_alert_says_what_to_do_and_gives_its_figures():
    for alert in alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        summary, description = alert["annotations"]["summary"], alert["annotations"]["description"]
        assert len(summary) > 40, name
        # A runbook line names something to check or run.
        assert re.search(r"\b(check|run|read|start|compare|settle)\b", summary), name
        # An absence has no figure to give; anything else says how far past its threshold it is.
        assert "{{" in description or alert["expr"].startswith("absent("), f"{name}: the description has no figure"


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for alert in alerts():
        mine = [case for case in cases if case["alertname"] == alert["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{alert['alert']} is never tested firing"
        assert any(not case["exp_alerts"] for case in mine), f"{alert['alert']} is never tested quiet"


@pytest.mark.parametrize(
    "topic",
    [
        "chatju_payments_paid_total",  # success rate
        "chatju_webhook_inbox_oldest_age_seconds",
        "chatju_payments_needs_review",
        "chatju_drift_differences",
        "chatju_drift_last_finished_timestamp_seconds",
        "chatju_gateway_errors_total",
        "chatju_gateway_request_duration_seconds_bucket",
        "chatju_outbox_oldest_pending_age_seconds",
        "chatju_payments_processing_oldest_age_seconds",
    ],
)
def test_the_issue_s_topics_are_covered_by_an_alert(topic):
    recorded = {rule["record"]: rule["expr"] for rule in monitoring.rules() if "record" in rule}
    exprs = [alert["expr"] for alert in alerts()]
    expanded = [expr + " ".join(recorded[name] for name in recorded if name in expr) for expr in exprs]
    assert any(topic in expr for expr in expanded)


def test_the_dashboard_is_grafana_json_on_the_provisioned_datasource():
    board = dashboard()
    assert board["uid"] == "chatju-payments"
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [source] = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    ids = [panel["id"] for panel in dashboard_panels()]
    assert len(ids) == len(set(ids))
    for panel in dashboard_panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
        assert panel["targets"], panel["title"]
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()


def test_the_dashboard_only_uses_series_the_rules_record():
    recorded = recorded_names()
    for expr in dashboard_exprs():
        for name in re.findall(r"\bchatju:[a-z0-9_:]+", expr):
            assert name in recorded, name


def test_the_dashboard_shows_what_the_alerts_watch():
    shown = monitoring.used_names(dashboard_exprs()) | recorded_names()
    for alert in alerts():
        names = monitoring.used_names([alert["expr"]]) | set(re.findall(r"\bchatju:[a-z0-9_:]+", alert["expr"]))
        assert names & shown or not names, f"{alert['alert']} watches nothing the dashboard shows"


def test_docker_compose_provisions_prometheus_and_grafana():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    prometheus, grafana = compose["prometheus"], compose["grafana"]
    assert "./ops/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert "./ops/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./ops/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "chatju.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]
    assert DASHBOARD.parent.name == "dashboards"
    # Ports published on the host's loopback only: Grafana starts with a default admin password.
    assert all(port.startswith("127.0.0.1:") for port in prometheus["ports"] + grafana["ports"])
