"""The one catalogue of phases, condition types, measurement phases, outcomes and reasons.

Reasons are paired with message templates so every event and status message reads the same way;
the rollout brain, the controller and the CLI all take their words from here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    PENDING = "Pending"
    VALIDATING = "Validating"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    HEALTHY = "Healthy"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"

    @property
    def is_terminal(self) -> bool:
        """Nothing moves until the spec (or a person) asks for something new."""
        return self in {Phase.HEALTHY, Phase.ROLLED_BACK, Phase.FAILED}


class ConditionType(StrEnum):
    AVAILABLE = "Available"
    """The stable version serves with enough ready pods."""
    PROGRESSING = "Progressing"
    """A rollout is under way (True) or finished (False, with the outcome as reason)."""
    VALIDATED = "Validated"
    """The current canary version passed (True) or failed (False) offline validation."""
    ANALYSIS_PASSING = "AnalysisPassing"
    PAUSED = "Paused"
    DRIFTING = "Drifting"
    """The stable's live inputs drifted from the reference dataset (spec.monitoring.drift)."""
    DEGRADED = "Degraded"
    """The stable's online accuracy fell below spec.monitoring.accuracy.min."""


class MeasurementPhase(StrEnum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    """No data yet, or too little to decide: never a pass, never a fail."""
    ERROR = "Error"
    """The measurement could not be taken (Prometheus unreachable, bad query)."""


class AnalysisPhase(StrEnum):
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    """Too many inconclusive rounds: the rollout halts for a person, neither promoted nor rolled back."""


class Outcome(StrEnum):
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    SUPERSEDED = "Superseded"
    FAILED = "Failed"
    SELECTED = "Selected"
    """spec.model.source picked this version (its rollout's own outcome follows)."""


class Reason(StrEnum):
    FIRST_DEPLOYMENT = "FirstDeployment"
    NEW_VERSION = "NewVersion"
    VALIDATION_STARTED = "ValidationStarted"
    VALIDATION_PASSED = "ValidationPassed"
    VALIDATION_FAILED = "ValidationFailed"
    VALIDATION_TIMED_OUT = "ValidationTimedOut"
    WAITING_FOR_PODS = "WaitingForPods"
    WEIGHT_SET = "WeightSet"
    TIMED_PAUSE = "TimedPause"
    MANUAL_PAUSE = "ManualPause"
    PAUSED_BY_SPEC = "PausedBySpec"
    ANALYSIS_RUNNING = "AnalysisRunning"
    ANALYSIS_PASSED = "AnalysisPassed"
    ANALYSIS_FAILED = "AnalysisFailed"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    PROMOTING = "Promoting"
    PROMOTED = "Promoted"
    MANUAL_PROMOTE = "ManualPromote"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    AWAITING_ROLLBACK = "AwaitingRollback"
    MANUAL_ABORT = "ManualAbort"
    STABLE_REAPPLIED = "StableReapplied"
    SUPERSEDED = "Superseded"
    RETRY = "Retry"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    CANARY_CRASHED = "CanaryCrashed"
    STABLE_READY = "StableReady"
    STABLE_NOT_READY = "StableNotReady"
    REQUEST_IGNORED = "RequestIgnored"
    RESUMED = "Resumed"
    SOURCE_PICKED = "SourceVersionPicked"
    SOURCE_UNAVAILABLE = "SourceUnavailable"
    DRIFT_DETECTED = "DriftDetected"
    NO_DRIFT = "NoDrift"
    ACCURACY_DEGRADED = "AccuracyDegraded"
    ACCURACY_OK = "AccuracyOK"
    TOO_FEW_SAMPLES = "TooFewSamples"
    MONITORING_ERROR = "MonitoringError"
    WEBHOOK_FAILED = "WebhookFailed"
    INVALID_SPEC = "InvalidSpec"


# What happened, to what, and what to do next. Placeholders are filled by `message`.
TEMPLATES: dict[Reason, str] = {
    Reason.FIRST_DEPLOYMENT: "Deploying version {version} as the first stable version.",
    Reason.NEW_VERSION: "Version {version} replaces stable {stable}: {plan}.",
    Reason.VALIDATION_STARTED: "Validation Job for version {version} started (timeout {timeout}).",
    Reason.VALIDATION_PASSED: "Version {version} passed validation. {detail}",
    Reason.VALIDATION_FAILED: (
        "Version {version} failed validation and never received traffic: {detail} "
        "Fix the model or spec.validation and apply a new version."
    ),
    Reason.VALIDATION_TIMED_OUT: (
        "Validation of version {version} did not finish within {timeout}; the version was not "
        "deployed. Check the Job's logs, or raise spec.validation.timeout."
    ),
    Reason.WAITING_FOR_PODS: (
        "Waiting for pods of version {version}: {ready}/{wanted} ready (deadline {deadline})."
    ),
    Reason.WEIGHT_SET: "Step {step}: version {version} gets {weight}% of traffic.",
    Reason.TIMED_PAUSE: "Step {step}: pausing for {duration}.",
    Reason.MANUAL_PAUSE: (
        "Step {step}: paused until promoted; run `kubectl model-rollout promote {name}` to go on "
        "or `kubectl model-rollout abort {name}` to roll back."
    ),
    Reason.PAUSED_BY_SPEC: "spec.rollout.paused is true: the rollout holds at step {step}.",
    Reason.ANALYSIS_RUNNING: "Step {step}: analysis round {round}/{count}. {detail}",
    Reason.ANALYSIS_PASSED: "Step {step}: analysis passed. {detail}",
    Reason.ANALYSIS_FAILED: "Analysis of version {version} failed: {detail}",
    Reason.ANALYSIS_INCONCLUSIVE: (
        "Analysis of version {version} is inconclusive: {detail} The rollout holds; promote, "
        "abort, or retry it with `kubectl model-rollout retry {name}`."
    ),
    Reason.PROMOTING: "Promoting version {version}: moving all traffic and capacity to it.",
    Reason.PROMOTED: "Version {version} is now the stable version.",
    Reason.MANUAL_PROMOTE: "Version {version} promoted by request at step {step}.",
    Reason.ROLLING_BACK: "Rolling back from version {version} to stable {stable}: {detail}",
    Reason.ROLLED_BACK: (
        "Version {version} was rolled back; stable {stable} serves all traffic. "
        "Apply a fixed version, or retry with `kubectl model-rollout retry {name}`."
    ),
    Reason.AWAITING_ROLLBACK: (
        "Version {version} failed ({detail}) and spec.rollback.automatic is false: traffic holds "
        "at {weight}%. Run `kubectl model-rollout abort {name}` to roll back or promote to keep it."
    ),
    Reason.MANUAL_ABORT: "Rollout of version {version} aborted by request.",
    Reason.STABLE_REAPPLIED: (
        "spec.model.version is the stable {stable} again: abandoning version {version} at once."
    ),
    Reason.SUPERSEDED: "Version {version} was replaced by {new} during its rollout; starting over.",
    Reason.RETRY: "Retrying the rollout of version {version} by request.",
    Reason.PROGRESS_DEADLINE_EXCEEDED: (
        "Version {version} made no progress within {deadline} ({detail}). Check its pods' events."
    ),
    Reason.CANARY_CRASHED: (
        "Version {version} crashed: {detail}. A container killed for memory needs a higher "
        "spec.serving.resources.limits.memory (or a smaller model); otherwise see `kubectl logs "
        "--previous` of that pod. Apply a fixed version."
    ),
    Reason.STABLE_READY: "Stable version {stable} serves with {ready}/{wanted} ready pods.",
    Reason.STABLE_NOT_READY: "Stable version {stable} has {ready}/{wanted} ready pods.",
    Reason.RESUMED: "spec.rollout.paused is false again: the rollout goes on from step {step}.",
    Reason.SOURCE_PICKED: "{source} gives version {version} ({why}); it replaces {previous}.",
    Reason.SOURCE_UNAVAILABLE: (
        "{source} could not be read: {detail} Keeping version {version}; "
        "the operator asks again every {interval}."
    ),
    Reason.REQUEST_IGNORED: "The {request} request was ignored: nothing to {request} while {phase}.",
    Reason.DRIFT_DETECTED: (
        "Stable version {version}: feature {feature} drifted from the reference dataset, PSI "
        "{value} > {threshold} over the last {window} ({samples} live values; chance alone gives "
        "this with p = {p}, under {level}). Check the inputs, or retrain on recent data."
    ),
    Reason.NO_DRIFT: (
        "Stable version {version}: no feature drifted over the last {window} (worst {feature}: "
        "PSI {value}, p = {p} on {samples} live values; drift is PSI over {threshold} with p "
        "under {level})."
    ),
    Reason.ACCURACY_DEGRADED: (
        "Stable version {version}: online accuracy {value} < {threshold} over the last {window} "
        "({samples} feedback). Check the ground truth, or retrain and roll out a new version."
    ),
    Reason.ACCURACY_OK: (
        "Stable version {version}: online accuracy {value} >= {threshold} over the last {window}."
    ),
    Reason.TOO_FEW_SAMPLES: (
        "Stable version {version}: {samples} {what} over the last {window}, fewer than the "
        "{needed} needed to judge {metric}."
    ),
    Reason.MONITORING_ERROR: "Stable version {version} could not be checked: {detail}",
    Reason.WEBHOOK_FAILED: (
        "The webhook {url} did not take the {condition} alert ({detail}); it is sent again when "
        "the condition next turns True."
    ),
    Reason.INVALID_SPEC: (
        "spec cannot be used: {error}. Fix the manifest and apply it again; nothing was changed."
    ),
}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def message(reason: Reason, **values: Any) -> str:
    """The user-facing message for `reason`; an unfilled placeholder reads as '?', never raises."""
    return " ".join(TEMPLATES[reason].format_map(_Blank(values)).split())
