"""When the controller should measure, and the deadlines that keep a rollout from hanging."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelrollout import api, rollout
from modelrollout.rollout import timing
from tests.unit.rollout.world import ANALYSIS, T0, VALIDATION, healthy, make_spec

pytestmark = pytest.mark.unit

SPEC = make_spec("2", rollout={"steps": [{"setWeight": 10}, {"analysis": {}}]}, analysis=ANALYSIS)


def at_analysis(**run: object) -> api.ModelDeploymentStatus:
    return healthy("1").model_copy(
        update={
            "phase": api.Phase.PROGRESSING,
            "canary_version": "2",
            "current_step": 1,
            "analysis": api.AnalysisStatus(step=1, started_at=T0, **run),  # type: ignore[arg-type]
        }
    )


@pytest.mark.parametrize(
    ("status", "seconds", "due"),
    [
        (at_analysis(), 29, False),
        (at_analysis(), 30, True),
        (at_analysis(last_measured_at=T0 + timedelta(seconds=30)), 45, False),
        (at_analysis(last_measured_at=T0 + timedelta(seconds=30)), 60, True),
        (at_analysis(phase=api.AnalysisPhase.FAILED), 600, False),
        (at_analysis().model_copy(update={"current_step": 0}), 600, False),
        (at_analysis().model_copy(update={"phase": api.Phase.PAUSED}), 600, False),
        (healthy("1"), 600, False),
    ],
    ids=[
        "not before one interval",
        "after one interval",
        "not before an interval since the last round",
        "an interval after the last round",
        "never for a finished run",
        "never away from an analysis step",
        "never while paused",
        "never at rest",
    ],
)
def test_a_round_is_due_one_interval_after_the_last(
    status: api.ModelDeploymentStatus, seconds: int, due: bool
) -> None:
    now = T0 + timedelta(seconds=seconds)
    assert rollout.measurement_due(spec=SPEC, status=status, now=now) is due


def test_a_missing_round_is_overdue_one_progress_deadline_after_it_was_due() -> None:
    overdue = timing.measurement_overdue_at(SPEC, at_analysis())
    assert overdue == T0 + timedelta(seconds=30) + timedelta(minutes=10)


def test_validation_gets_its_timeout_plus_grace_for_scheduling() -> None:
    spec = make_spec("2", validation=VALIDATION)
    status = healthy("1").model_copy(
        update={"validation": api.ValidationStatus(version="2", started_at=T0)}
    )
    deadline = timing.validation_deadline(spec, status)
    assert deadline == T0 + timedelta(minutes=5) + timing.VALIDATION_GRACE


@pytest.mark.parametrize(
    ("workload", "rolled_out"),
    [
        (rollout.Workload("2", 4, 4, 4), True),
        (rollout.Workload("2", 4, 3, 4), False),
        (rollout.Workload("2", 4, 4, 3), False),
        (rollout.Workload("1", 4, 4, 4), False),
        (rollout.Workload("2", 0, 0, 0), False),
    ],
)
def test_a_workload_is_rolled_out_when_every_desired_pod_runs_the_version_and_is_ready(
    workload: rollout.Workload, rolled_out: bool
) -> None:
    assert workload.rolled_out("2") is rolled_out
