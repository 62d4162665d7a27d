"""The judge: turns rounds of measurements into an analysis verdict. Pure; the rollout brain calls it.

A round is every metric measured once. The run passes after `count` successful rounds, fails when
failed rounds exceed failureLimit or errors in a row exceed consecutiveErrorLimit, and halts
(Inconclusive) when inconclusive rounds exceed inconclusiveLimit: no data is never a pass or a fail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from modelrollout.analysis import sequential
from modelrollout.api import (
    AnalysisPhase,
    AnalysisSpec,
    AnalysisStatus,
    AnalysisStep,
    Measurement,
    MeasurementPhase,
    MetricSpec,
)

Phase = MeasurementPhase

# A round is as bad as its worst measurement: one failed metric fails the round even if
# Prometheus errored on another, and an error outranks "no data" because it needs a person.
_SEVERITY = {Phase.SUCCESSFUL: 0, Phase.INCONCLUSIVE: 1, Phase.ERROR: 2, Phase.FAILED: 3}


@dataclass(frozen=True)
class Limits:
    count: int
    failure_limit: int
    inconclusive_limit: int
    consecutive_error_limit: int

    @classmethod
    def of(cls, spec: AnalysisSpec, step: AnalysisStep | None = None) -> Limits:
        """The limits of spec.analysis, with an analysis step's own count when it sets one."""
        count = step.count if step is not None and step.count is not None else spec.count
        return cls(
            count=count,
            failure_limit=spec.failure_limit,
            inconclusive_limit=spec.inconclusive_limit,
            consecutive_error_limit=spec.consecutive_error_limit,
        )


def round_phase(measurements: Sequence[Measurement]) -> MeasurementPhase:
    """The phase of one round: that of its worst measurement."""
    if not measurements:
        raise ValueError("a round needs at least one measurement: spec.analysis.metrics is empty")
    return max((m.phase for m in measurements), key=_SEVERITY.__getitem__)


def judge_round(
    *, run: AnalysisStatus, measurements: Sequence[Measurement], limits: Limits
) -> AnalysisStatus:
    """The run after one more round. A finished run (not Running) stays as it is."""
    if run.phase is not AnalysisPhase.RUNNING:
        return run
    phase = round_phase(measurements)
    errors_in_a_row = run.consecutive_errors + 1 if phase is Phase.ERROR else 0
    tally = run.model_copy(
        update={
            "rounds": run.rounds + 1,
            "successful": run.successful + (phase is Phase.SUCCESSFUL),
            "failed": run.failed + (phase is Phase.FAILED),
            "inconclusive": run.inconclusive + (phase is Phase.INCONCLUSIVE),
            "errors": run.errors + (phase is Phase.ERROR),
            "consecutive_errors": errors_in_a_row,
            "last_measured_at": max(m.measured_at for m in measurements),
            "last_measurements": list(measurements),
            # A round that could not compare (an error) keeps the run's evidence so far.
            "evidence": run.evidence
            | {m.metric: m.evidence for m in measurements if m.evidence is not None},
        }
    )
    verdict, why = _verdict(tally, limits)
    summary = "; ".join(_describe(m) for m in measurements)
    return tally.model_copy(update={"phase": verdict, "message": f"{why} Last round: {summary}."})


def carry_over(run: AnalysisStatus | None) -> dict[str, float]:
    """The evidence the next analysis run of the same version starts from: all of this one's.

    Every run is a stratum of the sequential test (its own counts, at one canary weight), so the
    strata's log odds add up. A failed run carries nothing: re-running it is a person's decision to
    judge the canary afresh (e.g. after fixing what broke the stable), not more of the same test.
    """
    if run is None or run.phase is AnalysisPhase.FAILED:
        return {}
    metrics = run.carried_evidence.keys() | run.evidence.keys()
    return {m: run.carried_evidence.get(m, 0.0) + run.evidence.get(m, 0.0) for m in sorted(metrics)}


def _verdict(run: AnalysisStatus, limits: Limits) -> tuple[AnalysisPhase, str]:
    if run.failed > limits.failure_limit:
        return AnalysisPhase.FAILED, (
            f"{run.failed} failed round(s), more than failureLimit {limits.failure_limit}."
        )
    if run.consecutive_errors > limits.consecutive_error_limit:
        return AnalysisPhase.FAILED, (
            f"{run.consecutive_errors} measurement errors in a row, more than "
            f"consecutiveErrorLimit {limits.consecutive_error_limit}: the canary cannot be judged."
        )
    if run.inconclusive > limits.inconclusive_limit:
        return AnalysisPhase.INCONCLUSIVE, (
            f"{run.inconclusive} inconclusive round(s), more than inconclusiveLimit "
            f"{limits.inconclusive_limit}: not enough data to pass or fail."
        )
    if run.successful >= limits.count:
        return AnalysisPhase.SUCCESSFUL, f"{run.successful}/{limits.count} rounds successful."
    return AnalysisPhase.RUNNING, f"{run.successful}/{limits.count} rounds successful so far."


def _describe(m: Measurement) -> str:
    value = "no value" if m.value is None else f"{m.value:.4g}"
    return f"{m.metric}={value} {m.phase.value}" + (f" ({m.message})" if m.message else "")


def check_bounds(*, metric: MetricSpec, value: float | None, now: datetime) -> Measurement:
    """Judge one value against a metric's min/max. No value (or NaN, Prometheus' 0/0) is no data;
    an infinite one is an Error: +Inf would pass any min, -Inf any max."""
    if value is None or math.isnan(value):
        return Measurement(
            metric=metric.name,
            phase=Phase.INCONCLUSIVE,
            message="no data yet (no samples in the window)",
            measured_at=now,
        )
    if math.isinf(value):
        return error(
            metric=metric.name,
            message=f"the value is {value:+}, which no threshold can judge: fix the query",
            now=now,
        )
    broken = []
    if metric.min is not None and value < metric.min:
        broken.append(f"below min {metric.min:g}")
    if metric.max is not None and value > metric.max:
        broken.append(f"above max {metric.max:g}")
    return Measurement(
        metric=metric.name,
        phase=Phase.FAILED if broken else Phase.SUCCESSFUL,
        value=value,
        message=", ".join(broken),
        measured_at=now,
    )


def from_verdict(
    *,
    metric: str,
    verdict: sequential.Verdict,
    value: float | None,
    message: str,
    now: datetime,
    evidence: float | None = None,
) -> Measurement:
    """A measurement from a canary-versus-stable verdict (Worse, NotWorse or Unknown).

    `evidence` is the comparison's log odds from this run's counts alone, carried to the next run.
    """
    return Measurement(
        metric=metric,
        phase=verdict.phase,
        value=value,
        message=message,
        measured_at=now,
        evidence=evidence,
    )


def error(*, metric: str, message: str, now: datetime) -> Measurement:
    """A measurement that could not be taken (the provider's typed error, as data)."""
    return Measurement(metric=metric, phase=Phase.ERROR, message=message, measured_at=now)
