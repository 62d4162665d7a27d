"""The spec models accept what users write and reject bad input with a message naming the rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from modelrollout import api

pytestmark = pytest.mark.unit

FULL: dict[str, Any] = {
    "model": {
        "name": "iris",
        "version": "2",
        "uri": "https://models.internal/iris/2/model.skops",
        "sha256": "a" * 64,
    },
    "serving": {"replicas": 4, "resources": {"requests": {"cpu": 1, "memory": "512Mi"}}},
    "validation": {
        "dataset": {"uri": "pvc://data/iris/test.csv", "target": "species"},
        "referenceDataset": {"uri": "s3://bucket/iris/train.parquet", "format": "parquet"},
        "schema": [{"name": "sex", "type": "string", "maxMissingRatio": 0.0}],
        "maxMissingRatio": 0.05,
        "maxDrift": 0.2,
        "thresholds": {"accuracy": {"min": 0.9}, "latencyP99Ms": {"max": 20}},
        "fairness": {"groupColumn": "sex", "maxGap": 0.05},
        "robustness": {"noise": 0.01, "minStability": 0.95},
        "compareWithStable": {"metric": "accuracy", "maxDrop": 0.01},
        "timeout": "10m",
    },
    "rollout": {
        "steps": [
            {"setWeight": 10},
            {"pause": {"duration": "60s"}},
            {"analysis": {}},
            {"setWeight": 50},
            {"pause": {}},
        ],
        "trafficRouting": {},
    },
    "analysis": {
        "prometheus": {"address": "http://prometheus.monitoring:9090"},
        "metrics": [
            {"name": "accuracy", "min": 0.9},
            {"name": "latency_p99_ms", "max": 50},
            {"name": "error_rate", "compare": {"maxIncrease": 0.01}},
            {"name": "queue", "query": "sum(x)", "max": 5},
        ],
    },
    "rollback": {"automatic": True},
}


def with_(path: str, value: Any) -> dict[str, Any]:
    """FULL with one dotted path replaced (value None deletes it)."""
    import copy

    doc = copy.deepcopy(FULL)
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is None:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def test_a_full_spec_parses_and_round_trips_in_camel_case() -> None:
    spec = api.ModelDeploymentSpec.model_validate(FULL)
    assert spec.validation is not None
    assert spec.validation.thresholds is not None
    assert spec.validation.thresholds.latency_p99_ms == api.Bound(max=20)
    assert spec.validation.columns is not None
    assert spec.validation.columns[0].name == "sex"
    wire = spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert wire["validation"]["schema"][0]["maxMissingRatio"] == 0.0
    assert api.ModelDeploymentSpec.model_validate(wire) == spec


def test_a_minimal_spec_gets_the_documented_defaults() -> None:
    spec = api.ModelDeploymentSpec.model_validate(
        {"model": {"name": "m", "version": "1", "uri": "file:///models/m.skops"}}
    )
    assert spec.model.format == "skops"
    assert spec.model.allow_unsafe_pickle is False
    assert spec.serving.replicas == 1
    assert spec.serving.port == 8080
    assert spec.rollout.steps == []
    assert spec.rollout.traffic_routing.router == "replicaRatio"
    assert spec.rollback.automatic is True
    assert spec.validation is None


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("model.format", "joblib", "allowUnsafePickle"),
        ("model.uri", "ftp://host/m.skops", "should match pattern"),
        ("model.uri", "pvc://Bad_Claim/x", "should match pattern"),
        ("model.version", "v 2", "should match pattern"),
        ("model.sha256", "XYZ", "should match pattern"),
        ("model.format", "pickle", "skops"),
        ("serving.replicas", 0, "greater than or equal to 1"),
        ("rollout.steps.0", {"setWeight": 10, "pause": {}}, "exactly one of setWeight"),
        ("rollout.steps.0", {}, "exactly one of setWeight"),
        ("rollout.steps.0", {"setWeight": 101}, "less than or equal to 100"),
        ("rollout.steps.1", {"pause": {"duration": "soon"}}, "should match pattern"),
        ("rollout.trafficRouting", {"none": {}, "gatewayAPI": {"httpRoute": "r"}}, "at most one"),
        ("analysis", None, "analysis step needs spec.analysis"),
        ("analysis.metrics.3", {"name": "queue", "max": 5}, "give this metric a PromQL query"),
        ("analysis.metrics.0", {"name": "accuracy"}, "min, max or compare"),
        ("analysis.metrics.1", {"name": "accuracy", "min": 0.5}, "names must be unique"),
        ("analysis.metrics.2", {"name": "error_rate", "compare": {}}, "exactly one of maxDrop"),
        ("validation.thresholds.accuracy", {}, "set min, max or both"),
        ("validation.thresholds.accuracy", {"min": 0.9, "max": 0.1}, "min must not exceed max"),
        ("validation.thresholds.precision", {"min": 0.9}, "Extra inputs are not permitted"),
        ("validation.referenceDataset", None, "maxDrift needs a referenceDataset"),
        ("validation.fairness.groupColumn", "age", "groupColumn must be one of the columns"),
        ("validation.dataset.target", None, "Field required"),
        ("validation.timeout", "10 minutes", "should match pattern"),
        ("rollback.automatc", True, "Extra inputs are not permitted"),
    ],
)
def test_bad_input_is_rejected_with_a_message_naming_the_rule(
    path: str, value: Any, expected: str
) -> None:
    with pytest.raises(ValidationError, match=expected):
        api.ModelDeploymentSpec.model_validate(with_(path, value))


def test_joblib_is_accepted_once_unsafe_pickle_is_allowed() -> None:
    doc = with_("model.allowUnsafePickle", True)
    doc["model"]["format"] = "joblib"
    assert api.ModelDeploymentSpec.model_validate(doc).model.format == "joblib"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_go_style_durations_parse(text: str, expected: timedelta) -> None:
    assert api.parse_duration(text) == expected


def test_a_duration_without_a_unit_is_an_error_that_shows_the_syntax() -> None:
    with pytest.raises(ValueError, match=r"write e\.g\. '30s'"):
        api.parse_duration("30")
