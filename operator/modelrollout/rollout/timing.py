"""Deadlines and due times of a rollout, from spec and status alone (`now` is always an argument)."""

from __future__ import annotations

from datetime import datetime, timedelta

from modelrollout.api import (
    AnalysisPhase,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    Phase,
    Step,
    parse_duration,
)

# Beyond spec.validation.timeout, time for the Job's pod to be scheduled and its image pulled;
# the Job itself is stopped at the timeout (activeDeadlineSeconds).
VALIDATION_GRACE = timedelta(minutes=2)


def current_step(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> Step | None:
    """The step the rollout is at, or None once past the last one (or not stepping)."""
    index = status.current_step
    steps = spec.rollout.steps
    return steps[index] if index is not None and 0 <= index < len(steps) else None


def progress_deadline(spec: ModelDeploymentSpec) -> timedelta:
    return parse_duration(spec.rollout.progress_deadline)


def validation_deadline(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus
) -> datetime | None:
    if spec.validation is None or status.validation is None:
        return None
    if status.validation.started_at is None:
        return None
    return status.validation.started_at + parse_duration(spec.validation.timeout) + VALIDATION_GRACE


def next_measurement_at(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus
) -> datetime | None:
    """When the next analysis round is due, or None when no analysis run is under way."""
    run = status.analysis
    step = current_step(spec, status)
    if (
        spec.analysis is None
        or run is None
        or step is None
        or (step.analysis is None and step.shadow is None)
        or run.step != status.current_step
        or run.phase is not AnalysisPhase.RUNNING
        or status.phase is not Phase.PROGRESSING
    ):
        return None
    since = run.last_measured_at or run.started_at
    return None if since is None else since + parse_duration(spec.analysis.interval)


def measurement_due(
    *, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime
) -> bool:
    """True when the controller should take an analysis round now and pass it to `decide`."""
    due = next_measurement_at(spec, status)
    return due is not None and now >= due


def measurement_overdue_at(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus
) -> datetime | None:
    """Past this time without a round, the missing round counts as an error (never stuck)."""
    due = next_measurement_at(spec, status)
    return None if due is None else due + progress_deadline(spec)


def mirror_percent(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> int:
    """Percent of requests the stable copies to the canary now: a shadow step's while it runs, else 0."""
    step = current_step(spec, status)
    if (
        step is None
        or step.shadow is None
        or status.canary_version is None
        or status.phase not in (Phase.PROGRESSING, Phase.PAUSED)
    ):
        return 0
    return step.shadow.mirror
