"""The chart's own files: its CRD is the generated one, and its dashboard queries only metrics that exist."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from modelrollout.controller import observability

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "model-rollout"
# The model server's metrics contract (shared/design.md), as Prometheus names the series.
SERVER_SERIES = {
    "model_requests_total",
    "model_request_duration_seconds_bucket",
    "model_request_duration_seconds_sum",
    "model_request_duration_seconds_count",
    "model_predictions_total",
    "model_feedback_total",
    "model_feedback_abs_error_bucket",
    "model_feedback_abs_error_sum",
    "model_feedback_abs_error_count",
    "model_info",
}
PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "label_values", "le"}


def test_the_chart_carries_the_crd_exactly_as_generated() -> None:
    generated = ROOT / "crds" / "modelrollout.io_modeldeployments.yaml"
    copy = CHART / "crds" / generated.name
    assert copy.read_text() == generated.read_text(), (
        f"{copy.relative_to(ROOT)} differs from {generated.relative_to(ROOT)}: "
        f"cp {generated.relative_to(ROOT)} {copy.relative_to(ROOT)}"
    )
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == [generated.name]


def operator_series() -> set[str]:
    """Series names as Prometheus stores them (labelled metrics have no samples until first used)."""
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}
    return {
        family.name + suffix
        for family in observability.OperatorMetrics().registry.collect()
        for suffix in suffixes[family.type]
    }


def dashboard() -> dict:  # type: ignore[type-arg]
    return json.loads((CHART / "dashboards" / "model-rollout.json").read_text())


def expressions(board: dict) -> list[str]:  # type: ignore[type-arg]
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    return exprs


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expr)
    without_matchers = re.sub(r"\{[^}]*\}", "", without_strings)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_matchers)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges))
    grouping = set(re.findall(r"by \(([^)]*)\)", without_matchers))
    labels = {w.strip() for g in grouping for w in g.split(",")}
    return words - PROMQL_WORDS - labels - {"namespace", "name", "model"}


def test_the_dashboard_queries_only_series_the_operator_and_model_servers_export() -> None:
    known = operator_series() | SERVER_SERIES
    used = {name for expr in expressions(dashboard()) for name in metric_names(expr)}
    assert used, "no metric found in the dashboard's queries"
    assert used <= known, f"the dashboard queries series nobody exports: {sorted(used - known)}"


def test_the_dashboard_shows_rollouts_weights_analysis_traffic_and_accuracy() -> None:
    used = {name for expr in expressions(dashboard()) for name in metric_names(expr)}
    for series in (
        "modelrollout_rollouts_total",
        "modelrollout_canary_weight_percent",
        "modelrollout_analysis_measurements_total",
        "modelrollout_reconcile_duration_seconds_bucket",
        "model_requests_total",
        "model_feedback_total",
    ):
        assert series in used, f"the dashboard has no panel on {series}"


def test_dashboard_panels_have_unique_ids_and_use_the_chosen_data_source() -> None:
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_chart_app_version_is_the_package_version() -> None:
    """The image tag defaults to appVersion, so the two must name the same release."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"], (
        f"Chart.yaml appVersion {chart['appVersion']} != pyproject version {project['version']}: "
        "bump them together"
    )
