"""`spec.monitoring`: the stable version keeps being judged after promotion, for drift of its live
inputs from the reference dataset and for online accuracy; and `status.monitoring`, what was found."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from modelrollout.api.base import PositiveDuration, Rule, SpecModel, StatusModel

# The usual reading of PSI (analysis/drift.py): above 0.25 a major shift.
DEFAULT_MAX_PSI = 0.25
# Drifting calls a retraining webhook, and a check runs every interval for as long as the stable
# serves: at one check a minute, 0.9999 bounds false alarms from sampling noise to about one a week.
DEFAULT_DRIFT_CONFIDENCE = 0.9999


class DriftSpec(SpecModel):
    """Per-feature drift: the model server counts live inputs in bins fixed from the reference
    dataset (spec.validation.referenceDataset, else spec.validation.dataset) and the operator
    computes each feature's population stability index over the window."""

    max_psi: Annotated[float, Field(gt=0.0, le=10.0)] = Field(
        default=DEFAULT_MAX_PSI, alias="maxPSI"
    )
    """A feature whose PSI exceeds this is drifting (0.1: moderate shift, 0.25: major)."""
    bins: Annotated[int, Field(ge=2, le=50)] = 10
    """Equal-frequency bins per feature, from the reference dataset's quantiles."""
    min_samples: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    """Live values over the window below which no drift is judged (too few to say)."""
    confidence: Annotated[
        float,
        Field(ge=0.5, le=0.999999),
        # As in analysis compare: the API server cuts bounds to whole numbers for a whole-number
        # value, so CEL holds the real ones.
        Rule(
            cel="self >= 0.5 && self <= 0.999999",
            message="confidence is a probability from 0.5 to 0.999999: write e.g. 0.9999",
            check=lambda c: 0.5 <= c <= 0.999999,
        ),
    ] = DEFAULT_DRIFT_CONFIDENCE
    """Probability that inputs as distributed as the reference raise no Drifting at a check. A PSI
    over maxPSI counts only if a chi-square test of the live counts against the reference's rows
    puts it beyond chance at this level (split over the features): on few values, or against a
    small reference, noise alone often passes maxPSI."""


class AccuracyMonitor(SpecModel):
    """Online accuracy of the stable from ground-truth feedback over the window."""

    min: Annotated[
        float,
        Rule(
            cel="self >= 0.0 && self <= 1.0",
            message="accuracy is a share from 0 to 1: write e.g. 0.9, not 90",
            check=lambda v: 0.0 <= v <= 1.0,
        ),
    ]
    """Online accuracy below this sets the Degraded condition."""
    min_samples: Annotated[int, Field(ge=1, le=1_000_000)] = 50
    """Feedback over the window below which accuracy is not judged."""


class WebhookSpec(SpecModel):
    """Called (HTTP POST, JSON) when a Drifting or Degraded condition turns True: a retraining trigger."""

    url: Annotated[str, Field(pattern=r"^https?://[^/\s]+(/\S*)?$", max_length=2048)]
    """Receives {"modelDeployment", "namespace", "model", "version", "condition", "metric",
    "feature", "value", "threshold", "window"}."""
    timeout: PositiveDuration = "5s"
    """How long one POST may take; a failed one is a WebhookFailed Event, sent again on the next alert."""


class MonitoringSpec(SpecModel):
    """Keep judging the stable version once it is Healthy; conditions and events say what is found."""

    interval: PositiveDuration = "1m"
    """How often the checks run."""
    window: PositiveDuration = "10m"
    """The span of live traffic each check looks at."""
    drift: DriftSpec | None = None
    """Set the Drifting condition when a feature's live inputs drift from the reference dataset."""
    accuracy: AccuracyMonitor | None = None
    """Set the Degraded condition when online accuracy falls below a minimum."""
    webhook: WebhookSpec | None = None
    """POSTed a JSON body when Drifting or Degraded turns True."""

    rules = (
        Rule(
            cel="has(self.drift) || has(self.accuracy)",
            message="monitoring checks something: set drift, accuracy or both",
            check=lambda m: m.drift is not None or m.accuracy is not None,
        ),
    )


class FeatureFinding(StatusModel):
    feature: str
    """A column of the reference dataset (the model's input order)."""
    psi: float
    """Its population stability index, live over the window against the reference."""
    samples: int
    """Live values of it counted over the window."""
    p_value: float | None = None
    """How likely sampling alone gives a difference this large from the reference (chi-square
    test of homogeneity); drift needs it under (1 - confidence) / features judged."""


class MonitoringStatus(StatusModel):
    """The last check of the stable version (spec.monitoring)."""

    version: str | None = None
    """The stable version checked."""
    checked_at: datetime | None = None
    """When; the next check is due spec.monitoring.interval later."""
    drift: list[FeatureFinding] = Field(default_factory=list, max_length=50)
    """PSI per feature over the window, worst first."""
    accuracy: float | None = None
    """Online accuracy over the window, when there was feedback."""
    feedback: int | None = None
    """Feedback counted over the window."""
    message: str = ""
    """What the check found, or why it could not read its figures."""
