"""The brain's side of monitoring: when the stable is checked, and what a check writes to status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelrollout import api
from modelrollout.analysis import monitor
from modelrollout.rollout import monitoring

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
SPEC = api.ModelDeploymentSpec.model_validate(
    {
        "model": {"name": "iris", "version": "2", "uri": "file:///m"},
        "validation": {"dataset": {"uri": "file:///d.csv", "target": "species"}},
        "analysis": {
            "prometheus": {"address": "http://p:9090"},
            "metrics": [{"name": "accuracy", "min": 0.9}],
        },
        "monitoring": {
            "interval": "30s",
            "window": "2m",
            "drift": {"maxPSI": 0.25, "minSamples": 100},
            "accuracy": {"min": 0.9, "minSamples": 10},
        },
    }
)
MONITORING = SPEC.monitoring
assert MONITORING is not None
REF = {"petal_length": [0.25] * 4, "sepal_width": [0.25] * 4}
SHIFTED = monitor.Figures(
    reference=REF,
    live={"petal_length": [0, 0, 0, 400], "sepal_width": [100] * 4},
    correct=95,
    incorrect=5,
)
CALM = monitor.Figures(
    reference=REF,
    live={"petal_length": [100] * 4, "sepal_width": [100] * 4},
    correct=95,
    incorrect=5,
)


def healthy(**extra: object) -> api.ModelDeploymentStatus:
    return api.ModelDeploymentStatus.model_validate(
        {"phase": "Healthy", "stableVersion": "2", **extra}
    )


@pytest.mark.parametrize(
    ("status", "due"),
    [
        (healthy(), True),  # never checked
        (healthy(monitoring={"version": "2", "checkedAt": NOW - timedelta(seconds=10)}), False),
        (healthy(monitoring={"version": "2", "checkedAt": NOW - timedelta(seconds=30)}), True),
        # A new stable is checked at once, whatever the last check of the old one.
        (healthy(monitoring={"version": "1", "checkedAt": NOW}), True),
        (
            api.ModelDeploymentStatus.model_validate(
                {"phase": "Progressing", "stableVersion": "1"}
            ),
            False,
        ),
        (api.ModelDeploymentStatus.model_validate({"phase": "Healthy"}), False),
    ],
)
def test_a_healthy_stable_is_checked_every_interval(
    status: api.ModelDeploymentStatus, due: bool
) -> None:
    assert monitoring.due(spec=SPEC, status=status, now=NOW) is due


def test_no_monitoring_spec_checks_nothing() -> None:
    spec = SPEC.model_copy(update={"monitoring": None})
    assert not monitoring.due(spec=spec, status=healthy(), now=NOW)


def conditions(status: api.ModelDeploymentStatus) -> dict[str, api.Condition]:
    return {c.type: c for c in status.conditions}


def test_a_shifted_feature_raises_drifting_naming_it_once() -> None:
    first, alerts = monitoring.record(
        status=healthy(), monitoring=MONITORING, figures=SHIFTED, now=NOW, generation=3
    )
    drifting = conditions(first)["Drifting"]
    assert drifting.status == "True"
    assert drifting.reason == "DriftDetected"
    assert "petal_length" in drifting.message
    assert "PSI" in drifting.message
    assert conditions(first)["Degraded"].status == "False"
    assert [a.feature for a in alerts] == ["petal_length"]
    assert first.monitoring is not None
    assert first.monitoring.drift[0].feature == "petal_length"
    assert first.monitoring.accuracy == pytest.approx(0.95)
    # Still drifting a turn later: the condition stays, its transition time too, no new alert.
    later = NOW + timedelta(seconds=30)
    second, again = monitoring.record(
        status=first, monitoring=MONITORING, figures=SHIFTED, now=later, generation=3
    )
    assert again == []
    assert conditions(second)["Drifting"].last_transition_time == NOW
    # The inputs come back: the condition turns False, without an alert.
    third, none = monitoring.record(
        status=second, monitoring=MONITORING, figures=CALM, now=later, generation=3
    )
    assert none == []
    assert conditions(third)["Drifting"].status == "False"


def test_calm_traffic_raises_nothing() -> None:
    new, alerts = monitoring.record(
        status=healthy(), monitoring=MONITORING, figures=CALM, now=NOW, generation=1
    )
    assert alerts == []
    assert {c.type: c.status for c in new.conditions} == {"Drifting": "False", "Degraded": "False"}


def test_low_accuracy_raises_degraded_with_the_figure() -> None:
    figures = monitor.Figures(reference=REF, live={}, correct=6, incorrect=4)
    new, alerts = monitoring.record(
        status=healthy(), monitoring=MONITORING, figures=figures, now=NOW, generation=1
    )
    degraded = conditions(new)["Degraded"]
    assert degraded.status == "True"
    assert "0.6" in degraded.message
    assert conditions(new)["Drifting"].status == "Unknown"  # no live bins: too few to say
    assert [(a.metric, a.value) for a in alerts] == [("accuracy", pytest.approx(0.6))]


def test_a_failed_read_keeps_the_conditions_and_says_why() -> None:
    first, _ = monitoring.record(
        status=healthy(), monitoring=MONITORING, figures=SHIFTED, now=NOW, generation=1
    )
    failed = monitoring.failed(status=first, detail="Prometheus is down.", now=NOW)
    assert failed.conditions == first.conditions
    assert failed.monitoring is not None
    assert "Prometheus is down." in failed.monitoring.message


def test_a_newly_promoted_stable_that_drifts_alerts_again() -> None:
    old, _ = monitoring.record(
        status=healthy(), monitoring=MONITORING, figures=SHIFTED, now=NOW, generation=1
    )
    promoted = old.model_copy(update={"stable_version": "3"})
    new, alerts = monitoring.record(
        status=promoted, monitoring=MONITORING, figures=SHIFTED, now=NOW, generation=2
    )
    assert [a.feature for a in alerts] == ["petal_length"]
    assert new.monitoring is not None
    assert new.monitoring.version == "3"
