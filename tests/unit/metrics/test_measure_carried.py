"""A round of a comparison reads this run's counts and adds the evidence the status carries in.

The provider is a stand-in answering fixed counts (the one edge under test is what measure does
with them); the Prometheus provider itself is tested against a real Prometheus elsewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelrollout import api
from modelrollout.analysis import compare
from modelrollout.metrics import measure, provider

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Own log odds about +1.5 for "3 points worse" at 95%, where a verdict needs 3.0.
COUNTS = {
    "canary": compare.ProportionCounts(890, 1000),
    "stable": compare.ProportionCounts(8190, 9000),
}


class Counts:
    address = "http://prometheus:9090"

    def __init__(self) -> None:
        self.windows: list[timedelta] = []

    def value(self, metric: str, *, scope: provider.Scope, query: str | None = None) -> float:
        raise AssertionError("a comparison reads counts, not a value")

    def proportion_counts(self, metric: str, *, scope: provider.Scope) -> compare.ProportionCounts:
        self.windows.append(scope.interval)
        return COUNTS[scope.track]

    def histogram_counts(self, metric: str, *, scope: provider.Scope) -> compare.HistogramCounts:
        raise AssertionError("not a latency metric")

    def close(self) -> None:
        pass


SPEC = api.ModelDeploymentSpec.model_validate(
    {
        "model": {"name": "iris", "version": "2", "uri": "file:///m/2.skops"},
        "serving": {"replicas": 4},
        "analysis": {
            "prometheus": {"address": "http://prometheus:9090"},
            "interval": "30s",
            "metrics": [{"name": "accuracy", "compare": {"maxDrop": 0.03}}],
        },
    }
)


@pytest.mark.parametrize(
    ("carried", "phase"),
    [
        pytest.param({}, api.MeasurementPhase.INCONCLUSIVE, id="nothing carried: undecided"),
        pytest.param({"accuracy": 2.0}, api.MeasurementPhase.FAILED, id="an earlier lean: worse"),
        pytest.param({"accuracy": -2.0}, api.MeasurementPhase.INCONCLUSIVE, id="cancelled out"),
        pytest.param({"error_rate": 9.0}, api.MeasurementPhase.INCONCLUSIVE, id="another metric's"),
    ],
)
def test_a_round_judges_this_runs_counts_with_the_evidence_carried_in(
    carried: dict[str, float], phase: api.MeasurementPhase
) -> None:
    started = T0 + timedelta(minutes=10)
    status = api.ModelDeploymentStatus(
        stable_version="1",
        canary_version="2",
        canary_weight=50,
        analysis=api.AnalysisStatus(step=3, started_at=started, carried_evidence=carried),
    )
    counts = Counts()
    (m,) = measure.take_round(
        prov=counts, spec=SPEC, status=status, namespace="ml", now=started + timedelta(minutes=2)
    )
    assert m.phase is phase
    assert m.evidence == pytest.approx(1.454, abs=0.01)  # this run's own, not the sum
    assert counts.windows == [timedelta(minutes=2)] * 2  # counts since this run began only
