"""After promotion: when the stable's check (spec.monitoring) is due, and what its verdicts do to
status (status.monitoring, the Drifting and Degraded conditions) and which of them alert.

Pure; reconcile reads the figures (metrics.monitoring), then calls `record` with `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelrollout import api
from modelrollout.analysis import drift, monitor


def due(*, spec: api.ModelDeploymentSpec, status: api.ModelDeploymentStatus, now: datetime) -> bool:
    """A Healthy stable with spec.monitoring is checked every monitoring.interval."""
    monitoring = spec.monitoring
    if monitoring is None or status.phase is not api.Phase.HEALTHY or not status.stable_version:
        return False
    last = status.monitoring
    if last is None or last.checked_at is None or last.version != status.stable_version:
        return True
    return (now - last.checked_at) >= api.parse_duration(monitoring.interval)


def verdicts(
    monitoring: api.MonitoringSpec, figures: monitor.Figures
) -> tuple[list[monitor.Verdict], list[drift.FeatureDrift]]:
    found: list[monitor.Verdict] = []
    drifts: list[drift.FeatureDrift] = []
    if monitoring.drift is not None:
        verdict, drifts = monitor.drift_verdict(monitoring.drift, figures)
        found.append(verdict)
    if monitoring.accuracy is not None:
        found.append(monitor.accuracy_verdict(monitoring.accuracy, figures))
    return found, drifts


def record(
    *,
    status: api.ModelDeploymentStatus,
    monitoring: api.MonitoringSpec,
    figures: monitor.Figures,
    now: datetime,
    generation: int | None,
) -> tuple[api.ModelDeploymentStatus, list[monitor.Verdict]]:
    """The status after a check on `figures`, and the verdicts that newly turned True (alerts)."""
    version = status.stable_version or ""
    found, drifts = verdicts(monitoring, figures)
    conditions = list(status.conditions)
    for v in found:
        conditions = api.set_condition(
            conditions,
            type=v.condition.value,
            status=v.state,
            reason=v.reason.value,
            message=v.message(version=version, window=monitoring.window),
            now=now,
            observed_generation=generation,
        )
    judged = figures.correct + figures.incorrect
    checked = api.MonitoringStatus(
        version=version,
        checked_at=now,
        drift=[
            api.FeatureFinding(
                feature=d.feature,
                psi=round(d.psi, 4),
                samples=d.samples,
                # Significant digits: the small p-values are the telling ones.
                p_value=float(f"{d.p_value:.3g}"),
            )
            for d in drifts[:50]
        ],
        accuracy=None if judged <= 0 else round(figures.correct / judged, 4),
        feedback=int(judged),
        message=" ".join(v.message(version=version, window=monitoring.window) for v in found),
    )
    new = status.model_copy(update={"conditions": conditions, "monitoring": checked})
    # A condition the previous stable left True alerts again for a newly promoted one.
    last = status.monitoring
    same = last is not None and last.version == version
    return new, monitor.raised(status.conditions if same else [], found)


def failed(
    *, status: api.ModelDeploymentStatus, detail: str, now: datetime
) -> api.ModelDeploymentStatus:
    """A check that could not read its figures: say so in status.monitoring, keep the conditions."""
    version = status.stable_version or ""
    text = api.message(api.Reason.MONITORING_ERROR, version=version, detail=detail)
    return status.model_copy(
        update={"monitoring": api.MonitoringStatus(version=version, checked_at=now, message=text)}
    )


def alert_events(
    alerts: Sequence[monitor.Verdict], *, version: str, window: str
) -> list[tuple[api.Reason, str]]:
    """(reason, message) of the Warning Event each alert emits."""
    return [(a.reason, a.message(version=version, window=window)) for a in alerts]
