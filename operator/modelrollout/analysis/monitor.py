"""The promoted stable's check (spec.monitoring): figures read over the window in, one verdict per
condition (Drifting, Degraded) out. Pure; the controller reads the figures and applies the verdicts.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from modelrollout import api
from modelrollout.analysis import drift

State = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Figures:
    """What Prometheus holds for the stable over the window."""

    reference: Mapping[str, Sequence[float]]
    """Feature -> the reference dataset's share of each bin (model_input_reference_share)."""
    live: Mapping[str, Sequence[float]]
    """Feature -> live values counted in each bin over the window (model_input_bin_total)."""
    reference_rows: float | None = None
    """Rows of the reference dataset the shares come from (model_input_reference_rows); None
    when the model server does not say, and the shares are then taken as exact."""
    correct: float = 0.0
    incorrect: float = 0.0
    """Feedback over the window (model_feedback_total by outcome)."""


@dataclass(frozen=True)
class Verdict:
    condition: api.ConditionType
    state: State
    reason: api.Reason
    metric: str
    """psi or accuracy: what `value` is."""
    value: float | None
    threshold: float
    feature: str | None = None
    samples: int = 0
    needed: int = 0
    p_value: float | None = None
    """Drift: how likely chance alone gives the feature's shift (analysis/drift.py)."""
    level: float | None = None
    """Drift: the p-value a feature's shift must be under to count."""

    def message(self, *, version: str, window: str) -> str:
        what = "live values" if self.metric == "psi" else "feedback"
        return api.message(
            self.reason,
            version=version,
            window=window,
            feature=self.feature or "none",
            value="n/a" if self.value is None else f"{self.value:.3g}",
            threshold=f"{self.threshold:g}",
            samples=self.samples,
            needed=self.needed,
            what=what,
            metric="drift" if self.metric == "psi" else "accuracy",
            p="n/a" if self.p_value is None else f"{self.p_value:.2g}",
            level="n/a" if self.level is None else f"{self.level:.2g}",
        )


def bins_by_feature(
    samples: Sequence[tuple[str, int, float]],
) -> dict[str, list[float]]:
    """(feature, bin index, value) samples as a list per feature in bin order (missing bins: 0)."""
    found: dict[str, dict[int, float]] = {}
    for feature, index, value in samples:
        found.setdefault(feature, {})[index] = value
    return {
        feature: [by_bin.get(i, 0.0) for i in range(max(by_bin) + 1)]
        for feature, by_bin in found.items()
    }


def drift_verdict(
    spec: api.DriftSpec, figures: Figures
) -> tuple[Verdict, list[drift.FeatureDrift]]:
    """Drifting True for the worst feature over maxPSI on enough values and beyond chance; Unknown
    on too few values."""
    drifts = drift.per_feature(
        reference=figures.reference, live=figures.live, reference_rows=figures.reference_rows
    )
    worst = drift.worst(
        drifts, max_psi=spec.max_psi, min_samples=spec.min_samples, confidence=spec.confidence
    )
    common = functools.partial(
        Verdict,
        condition=api.ConditionType.DRIFTING,
        metric="psi",
        threshold=spec.max_psi,
        level=drift.level(drifts, min_samples=spec.min_samples, confidence=spec.confidence),
    )
    if worst is not None:
        return common(
            state="True",
            reason=api.Reason.DRIFT_DETECTED,
            value=worst.psi,
            feature=worst.feature,
            samples=worst.samples,
            p_value=worst.p_value,
        ), drifts
    enough = drift.judged(drifts, min_samples=spec.min_samples)
    if not enough:
        samples = max((d.samples for d in drifts), default=0)
        return common(
            state="Unknown",
            reason=api.Reason.TOO_FEW_SAMPLES,
            value=None,
            samples=samples,
            needed=spec.min_samples,
        ), drifts
    top = enough[0]
    return common(
        state="False",
        reason=api.Reason.NO_DRIFT,
        value=top.psi,
        feature=top.feature,
        samples=top.samples,
        p_value=top.p_value,
    ), drifts


def accuracy_verdict(spec: api.AccuracyMonitor, figures: Figures) -> Verdict:
    """Degraded True when online accuracy is below min on enough feedback; Unknown on too little."""
    judged = figures.correct + figures.incorrect
    common = functools.partial(
        Verdict, condition=api.ConditionType.DEGRADED, metric="accuracy", threshold=spec.min
    )
    if judged < spec.min_samples:
        return common(
            state="Unknown",
            reason=api.Reason.TOO_FEW_SAMPLES,
            value=None,
            samples=int(judged),
            needed=spec.min_samples,
        )
    accuracy = figures.correct / judged
    low = accuracy < spec.min
    return common(
        state="True" if low else "False",
        reason=api.Reason.ACCURACY_DEGRADED if low else api.Reason.ACCURACY_OK,
        value=accuracy,
        samples=int(judged),
    )


def raised(old: Sequence[api.Condition], verdicts: Sequence[Verdict]) -> list[Verdict]:
    """The verdicts that turn their condition True now (it was not True before): alert on these."""
    was_true = {c.type for c in old if c.status == "True"}
    return [v for v in verdicts if v.state == "True" and v.condition.value not in was_true]
