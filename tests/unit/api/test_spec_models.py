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
    assert spec.validation.thresholds.latency_p99_ms == api.NonNegativeBound(max=20)
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
        ("rollout.steps.1", {"pause": {"duration": "soon"}}, "must be a duration"),
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
        ("validation.timeout", "10 minutes", "must be a duration"),
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


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # Durations that must be positive.
        ("analysis.interval", "0s", "must be more than zero"),
        ("analysis.interval", "0m0s", "must be more than zero"),
        ("analysis.interval", "-30s", "no sign or spaces, e.g. 30s"),
        ("analysis.metrics.0.interval", "0.0s", "must be more than zero"),
        ("rollout.steps.1", {"pause": {"duration": "0s"}}, "leave duration out to pause"),
        ("rollout.progressDeadline", "0m", "must be more than zero"),
        ("validation.timeout", "0ms", "must be more than zero"),
        # Ratios and probabilities.
        ("validation.thresholds.accuracy", {"min": 90}, "less than or equal to 1"),
        ("validation.thresholds.accuracy", {"min": -0.1}, "greater than or equal to 0"),
        ("validation.thresholds.f1", {"max": 1.5}, "less than or equal to 1"),
        ("validation.thresholds.rocAuc", {"min": 1.01}, "less than or equal to 1"),
        ("validation.thresholds.r2", {"min": 1.2}, "less than or equal to 1"),
        ("validation.thresholds.rmse", {"max": -1}, "greater than or equal to 0"),
        ("validation.thresholds.latencyP99Ms", {"max": -5}, "greater than or equal to 0"),
        ("validation.maxMissingRatio", 1.5, "less than or equal to 1"),
        ("validation.schema.0.maxMissingRatio", -0.5, "greater than or equal to 0"),
        ("validation.robustness.minStability", 95, "less than or equal to 1"),
        ("validation.fairness.maxGap", 5, "write maxGap as a share"),
        ("validation.compareWithStable.maxDrop", 2, "write maxDrop as a share"),
        ("analysis.metrics.0", {"name": "accuracy", "min": 90}, "not 90"),
        ("analysis.metrics.0", {"name": "error_rate", "max": -0.1}, "shares between 0 and 1"),
        ("analysis.metrics.1", {"name": "latency_p99_ms", "max": -1}, "must not be negative"),
        (
            "analysis.metrics.2",
            {"name": "error_rate", "compare": {"maxIncrease": 0.01, "confidence": 1.0}},
            "less than or equal to 0.999",
        ),
        (
            "analysis.metrics.2",
            {"name": "error_rate", "compare": {"maxIncrease": 1.5}},
            "a compare margin must be below 1",
        ),
        # Which comparison margin each metric can be judged with.
        (
            "analysis.metrics.2",
            {"name": "error_rate", "compare": {"maxIncreaseRatio": 0.5}},
            "compare it with maxIncrease",
        ),
        (
            "analysis.metrics.2",
            {"name": "error_rate", "compare": {"maxDrop": 0.01}},
            "compare it with maxIncrease",
        ),
        (
            "analysis.metrics.0",
            {"name": "accuracy", "compare": {"maxIncreaseRatio": 0.1}},
            "compare it with maxDrop",
        ),
        (
            "analysis.metrics.1",
            {"name": "latency_p99_ms", "compare": {"maxDrop": 5}},
            "compare it with maxIncreaseRatio",
        ),
        (
            "analysis.metrics.1",
            {"name": "latency_p99_ms", "compare": {"maxIncreaseRatio": 200}},
            "less than or equal to 100",
        ),
        (
            "analysis.metrics.3",
            {"name": "queue", "query": "sum(x)", "compare": {"maxIncrease": 1}},
            "judge this metric with min or max",
        ),
    ],
)
def test_what_cannot_work_is_refused_saying_what_to_do(
    path: str, value: Any, expected: str
) -> None:
    with pytest.raises(ValidationError, match=expected):
        api.ModelDeploymentSpec.model_validate(with_(path, value))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("rollback.scaleDownDelay", "0s"),
        ("analysis.interval", "0.5s"),
        ("validation.thresholds.accuracy", {"min": 0, "max": 1}),
        ("validation.thresholds.r2", {"min": -3}),
        ("validation.compareWithStable", {"metric": "rmse", "maxDrop": 25}),
        ("validation.fairness.maxGap", 0),
        ("analysis.metrics.0", {"name": "accuracy", "query": "sum(x) * 100", "min": 90}),
        ("analysis.metrics.1", {"name": "latency_p99_ms", "compare": {"maxIncrease": 250}}),
        ("analysis.metrics.1", {"name": "latency_p99_ms", "compare": {"maxIncreaseRatio": 0.2}}),
        ("analysis.metrics.0", {"name": "accuracy", "compare": {"maxDrop": 0.02}}),
    ],
)
def test_edge_values_that_work_are_accepted(path: str, value: Any) -> None:
    api.ModelDeploymentSpec.model_validate(with_(path, value))


def test_the_longest_name_is_accepted_and_one_more_character_is_refused_saying_why() -> None:
    api.check_name("m" * api.MAX_NAME_LENGTH)
    with pytest.raises(ValueError, match=r"at most 56 characters: its Services are named"):
        api.check_name("m" * (api.MAX_NAME_LENGTH + 1))


@pytest.mark.parametrize("name", ["1st-model", "iris.v2", "-iris", "iris-"])
def test_a_name_that_cannot_name_a_service_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="DNS-1035"):
        api.check_name(name)


def _shadow_spec(routing: dict[str, Any], query: str) -> dict[str, Any]:
    return {
        "model": {"name": "iris", "version": "2", "uri": "file:///m/2.skops"},
        "rollout": {
            "steps": [{"shadow": {"duration": "10m", "mirror": 50}}],
            "trafficRouting": routing,
        },
        "analysis": {
            "prometheus": {"address": "http://prometheus:9090"},
            "metrics": [
                {"name": "accuracy", "min": 0.9},
                {"name": "agreement", "min": 0.9, "query": query},
            ],
        },
    }


AGREEMENT = 'sum(rate(model_shadow_agreement_total{outcome="agree"}[1m]))'


def test_agreement_under_gateway_mirroring_is_refused_saying_why_and_what_to_do() -> None:
    with pytest.raises(ValidationError, match="no server sees both answers") as err:
        api.ModelDeploymentSpec.model_validate(
            _shadow_spec({"gatewayAPI": {"httpRoute": "iris"}}, AGREEMENT)
        )
    assert "use the replicaRatio router to measure agreement" in str(err.value)


def test_agreement_is_accepted_where_the_stable_forwards_and_other_queries_under_a_gateway() -> (
    None
):
    api.ModelDeploymentSpec.model_validate(_shadow_spec({}, AGREEMENT))
    api.ModelDeploymentSpec.model_validate(
        _shadow_spec({"gatewayAPI": {"httpRoute": "iris"}}, "sum(rate(model_requests_total[1m]))")
    )
