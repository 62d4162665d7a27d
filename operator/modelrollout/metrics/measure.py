"""Takes one analysis round: every metric of spec.analysis measured now, each turned into a Measurement.

A provider's failure is data, never an exception here: no data is Inconclusive, an unreachable or
broken query is Error; the judge in the brain applies the limits. Called by reconcile when a round is due.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from modelrollout import api
from modelrollout.analysis import compare, judge, latency
from modelrollout.metrics import provider


def take_round(
    *,
    prov: provider.MetricProvider,
    spec: api.ModelDeploymentSpec,
    status: api.ModelDeploymentStatus,
    namespace: str,
    now: datetime,
) -> tuple[api.Measurement, ...]:
    analysis = spec.analysis
    if analysis is None or status.canary_version is None:
        return ()
    started = (status.analysis.started_at if status.analysis else None) or now
    out = []
    for metric in analysis.metrics:
        try:
            out.append(
                _measure(
                    prov=prov,
                    analysis=analysis,
                    metric=metric,
                    spec=spec,
                    status=status,
                    namespace=namespace,
                    since=now - started,
                    now=now,
                )
            )
        except provider.NoData as e:
            out.append(
                api.Measurement(
                    metric=metric.name,
                    phase=api.MeasurementPhase.INCONCLUSIVE,
                    message=f"no data yet: {e}",
                    measured_at=now,
                )
            )
        except provider.ProviderError as e:
            out.append(judge.error(metric=metric.name, message=str(e), now=now))
        except ValueError as e:
            # Counts a statistical test cannot use (e.g. a counter reset mid-window): no verdict now.
            out.append(judge.error(metric=metric.name, message=f"cannot compare: {e}", now=now))
    return tuple(out)


def _measure(
    *,
    prov: provider.MetricProvider,
    analysis: api.AnalysisSpec,
    metric: api.MetricSpec,
    spec: api.ModelDeploymentSpec,
    status: api.ModelDeploymentStatus,
    namespace: str,
    since: timedelta,
    now: datetime,
) -> api.Measurement:
    def scope(
        track: provider.Track, version: str, *, window: timedelta | None = None
    ) -> provider.Scope:
        s = provider.scope_for(
            analysis=analysis,
            metric=metric,
            namespace=namespace,
            model=spec.model.name,
            version=version,
            track=track,
        )
        return s if window is None else dataclasses.replace(s, interval=window)

    canary_version = status.canary_version or spec.model.version
    cmp = metric.compare
    if cmp is None or status.stable_version is None:
        value = prov.value(metric.name, scope=scope("canary", canary_version), query=metric.query)
        return judge.check_bounds(metric=metric, value=value, now=now)
    # Sequential tests read cumulative counts since the analysis began (they stay valid when looked
    # at every round), never less than one interval.
    window = max(since, api.parse_duration(metric.interval or analysis.interval))
    window = timedelta(seconds=max(1, int(window.total_seconds() + 0.999)))
    canary_scope = scope("canary", canary_version, window=window)
    stable_scope = scope("stable", status.stable_version, window=window)
    carried = status.analysis.carried_evidence.get(metric.name, 0.0) if status.analysis else 0.0
    # The API admits compare for built-in metrics only, each with a margin its test can use.
    meaning = api.BUILTINS[metric.name]
    if meaning.quantile is not None:
        result = latency.compare_latency(
            canary=prov.histogram_counts(metric.name, scope=canary_scope),
            stable=prov.histogram_counts(metric.name, scope=stable_scope),
            quantile=meaning.quantile,
            confidence=cmp.confidence,
            max_increase_ratio=cmp.max_increase_ratio,
            max_increase_ms=cmp.max_increase,
            carried=carried,
        )
        value = result.canary_value * meaning.scale
    else:
        margin = cmp.max_drop if cmp.max_drop is not None else cmp.max_increase
        if margin is None:
            raise provider.BadQuery(
                f"metric {metric.name} compares with maxIncreaseRatio, which only latency supports; "
                "use maxDrop (accuracy) or maxIncrease (error_rate)",
                query=metric.name,
                address=prov.address,
            )
        result = compare.compare_proportions(
            canary=prov.proportion_counts(metric.name, scope=canary_scope),
            stable=prov.proportion_counts(metric.name, scope=stable_scope),
            max_drop=margin,
            confidence=cmp.confidence,
            higher_is_better=meaning.higher_is_better,
            name=metric.name,
            carried=carried,
        )
        value = result.canary_value
    return judge.from_verdict(
        metric=metric.name,
        verdict=result.verdict,
        value=value,
        message=result.message,
        now=now,
        evidence=result.evidence,
    )
