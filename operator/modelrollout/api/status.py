"""`status`: where a rollout's whole state lives, so a restarted operator resumes where it was."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from modelrollout.api.base import StatusModel
from modelrollout.api.catalogue import AnalysisPhase, MeasurementPhase, Outcome, Phase, Reason
from modelrollout.api.model import ModelSpec

# Ten entries show a flapping pattern yet keep the object tiny: unbounded history is how
# controllers end up slow (argo-rollouts#2166).
HISTORY_LIMIT = 10


class Condition(StatusModel):
    """The standard metav1.Condition shape."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


class ValidationStatus(StatusModel):
    version: str
    """The model version this validation is about."""
    job: str | None = None
    passed: bool | None = None
    """None while the Job runs."""
    metrics: dict[str, float] = Field(default_factory=dict)
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Measurement(StatusModel):
    """One metric measured once, judged against its bounds or the stable version."""

    metric: str
    phase: MeasurementPhase
    value: float | None = None
    message: str = ""
    measured_at: datetime
    evidence: float | None = None
    """A comparison's log odds for "worse by the margin", from this analysis run's counts alone."""


class AnalysisStatus(StatusModel):
    """The analysis run of the current analysis step."""

    phase: AnalysisPhase = AnalysisPhase.RUNNING
    step: int | None = None
    runs: int = 0
    """Analysis runs started for the current canary version."""
    rounds: int = 0
    """Measurement rounds taken in this run."""
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    started_at: datetime | None = None
    last_measured_at: datetime | None = None
    last_measurements: list[Measurement] = Field(default_factory=list)
    message: str = ""
    evidence: dict[str, float] = Field(default_factory=dict)
    """Per compared metric, this run's latest log odds (its own counts, at one canary weight)."""
    carried_evidence: dict[str, float] = Field(default_factory=dict)
    """Per compared metric, the log odds of the earlier runs of this version, added to this run's:
    the sequential test goes on across weights without pooling counts, so its error rates hold
    over the whole rollout."""


class SourceStatus(StatusModel):
    """What spec.model.source last gave: the version the operator picked, and why."""

    kind: Literal["mlflow", "directory"]
    version: str
    """The picked version, served as spec.model.version."""
    uri: str
    """Where the model server reads that version's artifact."""
    reason: str
    """Why this version: the alias, stage or ordering rule that picked it."""
    picked_at: datetime
    """When the source first gave this version."""
    checked_at: datetime
    """The last time the source answered."""
    error: str = ""
    """Why the last look at the source failed (the picked version stays meanwhile); empty when it answered."""


class HistoryEntry(StatusModel):
    version: str
    outcome: Outcome
    reason: Reason
    message: str = ""
    time: datetime


class ModelDeploymentStatus(StatusModel):
    phase: Phase = Phase.PENDING
    observed_generation: int | None = None
    stable_version: str | None = None
    stable_model: ModelSpec | None = None
    """The stable version's full model spec, kept so the stable pods survive a spec change."""
    canary_version: str | None = None
    canary_weight: int = Field(default=0, ge=0, le=100)
    """Requested share (percent) of traffic for the canary."""
    actual_canary_weight: float | None = None
    """Share of ready endpoints the canary actually holds (percent), as the router reports it."""
    current_step: int | None = None
    """Index into spec.rollout.steps; equal to its length once all steps are done."""
    step_started_at: datetime | None = None
    phase_since: datetime | None = None
    message: str = ""
    pause_reason: Reason | None = None
    """Why the rollout waits for a person (a Reason); a promote request goes past exactly that."""
    handled_requests: dict[str, str] = Field(default_factory=dict)
    """Manual request kind -> token already acted on, so a request is carried out once."""
    validation: ValidationStatus | None = None
    analysis: AnalysisStatus | None = None
    source: SourceStatus | None = None
    """Set when spec.model.source picks the version."""
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    history: list[HistoryEntry] = Field(default_factory=list, max_length=HISTORY_LIMIT)


def set_condition(
    conditions: list[Condition],
    *,
    type: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    now: datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    """A new list with the condition set; lastTransitionTime moves only when the status flips."""
    old = next((c for c in conditions if c.type == type), None)
    since = old.last_transition_time if old is not None and old.status == status else now
    new = Condition(
        type=type,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=observed_generation,
    )
    return [new if c.type == type else c for c in conditions] if old else [*conditions, new]


def add_history(history: list[HistoryEntry], entry: HistoryEntry) -> list[HistoryEntry]:
    """A new list with `entry` appended, keeping only the newest HISTORY_LIMIT entries."""
    return [*history, entry][-HISTORY_LIMIT:]
