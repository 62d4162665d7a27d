"""The stable's check as tables: bins and PSI per feature, and the verdicts they give."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

import numpy as np
import pytest

from modelrollout import api
from modelrollout.analysis import drift, monitor

pytestmark = pytest.mark.unit

UNIFORM = [0.25, 0.25, 0.25, 0.25]


@pytest.mark.parametrize(
    ("reference", "live", "low", "high"),
    [
        (UNIFORM, [100, 100, 100, 100], 0.0, 1e-12),  # the same shares: no drift
        (UNIFORM, [1, 1, 1, 1], 0.0, 1e-12),  # counts are normalised
        (UNIFORM, [110, 90, 105, 95], 0.0, drift.PSI_NO_SHIFT),  # noise
        (UNIFORM, [40, 20, 20, 20], 0.05, drift.PSI_MAJOR_SHIFT),  # a moderate shift
        (UNIFORM, [0, 0, 0, 100], drift.PSI_MAJOR_SHIFT, 100.0),  # all in one bin: major
    ],
)
def test_psi_reads_as_its_usual_bands(
    reference: list[float], live: list[float], low: float, high: float
) -> None:
    assert low <= drift.psi(reference, live) <= high


def test_an_empty_bin_gives_a_large_but_finite_psi() -> None:
    value = drift.psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2])
    assert math.isfinite(value)
    assert value > drift.PSI_MAJOR_SHIFT


def test_psi_refuses_bins_that_do_not_match() -> None:
    with pytest.raises(ValueError, match="same bins needed"):
        drift.psi([0.5, 0.5], [1, 1, 1])


def test_equal_frequency_bins_put_far_values_in_the_open_ends() -> None:
    edges = drift.bin_edges(np.arange(100, dtype=float), bins=4)
    assert len(edges) == 3
    assert drift.bin_index(np.array([-1e9, 50.0, 1e9]), edges).tolist() == [0, 2, 3]


def test_bins_by_feature_orders_bins_and_fills_missing_ones() -> None:
    found = monitor.bins_by_feature([("a", 2, 5.0), ("a", 0, 1.0), ("b", 0, 3.0)])
    assert found == {"a": [1.0, 0.0, 5.0], "b": [3.0]}


DRIFT = api.DriftSpec(maxPSI=0.25, bins=4, minSamples=100)
REF = {"petal_length": UNIFORM, "sepal_width": UNIFORM}


@pytest.mark.parametrize(
    ("live", "state", "reason", "feature"),
    [
        (
            {"petal_length": [0, 0, 10, 190], "sepal_width": [50, 50, 50, 50]},
            "True",
            api.Reason.DRIFT_DETECTED,
            "petal_length",
        ),
        (
            {"petal_length": [50, 50, 50, 50], "sepal_width": [48, 52, 50, 50]},
            "False",
            api.Reason.NO_DRIFT,
            "sepal_width",
        ),
        # A shift on too few values says nothing yet.
        (
            {"petal_length": [0, 0, 0, 20], "sepal_width": [5, 5, 5, 5]},
            "Unknown",
            api.Reason.TOO_FEW_SAMPLES,
            None,
        ),
        ({}, "Unknown", api.Reason.TOO_FEW_SAMPLES, None),
    ],
)
def test_the_drift_verdict_names_the_worst_feature(
    live: dict[str, list[float]], state: str, reason: api.Reason, feature: str | None
) -> None:
    verdict, drifts = monitor.drift_verdict(DRIFT, monitor.Figures(reference=REF, live=live))
    assert (verdict.state, verdict.reason, verdict.feature) == (state, reason, feature)
    assert verdict.condition is api.ConditionType.DRIFTING
    assert [d.psi for d in drifts] == sorted((d.psi for d in drifts), reverse=True)
    text = verdict.message(version="1", window="10m")
    if feature is not None:
        assert feature in text
        assert f"{verdict.value:.3g}" in text


ACCURACY = api.AccuracyMonitor(min=0.9, minSamples=50)


@pytest.mark.parametrize(
    ("correct", "incorrect", "state", "value"),
    [
        (95, 5, "False", 0.95),
        (80, 20, "True", 0.8),
        (90, 10, "False", 0.9),  # at the minimum is not below it
        (15, 45, "True", 0.25),
        (20, 10, "Unknown", None),  # 30 feedback < minSamples 50
        (0, 0, "Unknown", None),
    ],
)
def test_the_accuracy_verdict_needs_enough_feedback(
    correct: float, incorrect: float, state: str, value: float | None
) -> None:
    figures = monitor.Figures(reference={}, live={}, correct=correct, incorrect=incorrect)
    verdict = monitor.accuracy_verdict(ACCURACY, figures)
    assert verdict.state == state
    assert verdict.value == (None if value is None else pytest.approx(value))
    assert verdict.condition is api.ConditionType.DEGRADED


def test_only_a_condition_turning_true_alerts() -> None:
    verdict, _ = monitor.drift_verdict(
        DRIFT,
        monitor.Figures(reference=REF, live={"petal_length": [0, 0, 0, 200]}),
    )

    def condition(state: Literal["True", "False"]) -> api.Condition:
        return api.Condition(
            type="Drifting", status=state, reason="x", last_transition_time=datetime(2026, 1, 1)
        )

    assert monitor.raised([], [verdict]) == [verdict]
    assert monitor.raised([condition("False")], [verdict]) == [verdict]
    assert monitor.raised([condition("True")], [verdict]) == []
