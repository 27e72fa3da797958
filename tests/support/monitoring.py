"""The monitoring files in ops/ (alert rules, dashboard, Prometheus config) and the metric names they use."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import services

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "ops" / "prometheus"
RULES = PROMETHEUS / "chatju-alerts.yml"
RULE_TESTS = PROMETHEUS / "chatju-alerts.test.yml"
PROMETHEUS_CONFIG = PROMETHEUS / "prometheus.yml"
GRAFANA = ROOT / "ops" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "chatju.json"
# Our metric names; recorded series are `chatju:...` and Prometheus's own are named in PROMETHEUS_OWN.
METRIC_NAME = re.compile(r"\bchatju_[a-z0-9_]+\b")
RECORDED_NAME = re.compile(r"\bchatju:[a-z0-9_:]+\b")
PROMETHEUS_OWN = frozenset({"up"})
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def promtool() -> str:
    """Debian's promtool (package `prometheus`); missing, these tests skip, or fail under CHATJU_REQUIRE_SERVICES=1."""
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is missing (apt-get install prometheus)"
        if services.services_required():
            pytest.fail(f"{message}; CHATJU_REQUIRE_SERVICES=1 makes this a failure")
        pytest.skip(message)
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False)


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel.get("targets", [])]


def used_names(exprs: list[str]) -> set[str]:
    """Our metric names in PromQL expressions (Prometheus's own `up` is named apart)."""
    return {name for expr in exprs for name in METRIC_NAME.findall(expr)}


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def exposed(name: str, families: dict[str, str]) -> bool:
    """Whether a name used in PromQL is a series of one of the exposed families (name -> type)."""
    if families.get(name) in ("gauge", "unknown"):
        return True
    if name.endswith("_total") and families.get(name.removesuffix("_total")) == "counter":
        return True
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and families.get(name.removesuffix(suffix)) == "histogram":
            return True
    return False
