"""Canary-versus-stable comparison of one metric over the same period: Worse, NotWorse or Unknown.

The analysis calls compare_proportions (accuracy from feedback, error rate from requests) and
compare_latency (histogram buckets) with the counts the metric provider fetched for each track.
This module is the public surface of the statistical judge, so it re-exports the names callers need.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from modelrollout.analysis import sequential
from modelrollout.analysis.latency import HistogramCounts, compare_latency
from modelrollout.analysis.sequential import Comparison, Verdict

__all__ = [
    "Comparison",
    "HistogramCounts",
    "ProportionCounts",
    "Verdict",
    "compare_latency",
    "compare_proportions",
]

# Below this many samples on either track the Gaussian approximation is too rough to act on;
# the margin keeps early errors rare anyway, so this mostly guards rare-event metrics.
MIN_SAMPLES = 30


@dataclass(frozen=True)
class ProportionCounts:
    """One track's counts over the analysis window: e.g. correct feedback of all feedback."""

    successes: int
    trials: int

    def __post_init__(self) -> None:
        for field, value in (("successes", self.successes), ("trials", self.trials)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise ValueError(
                    f"ProportionCounts.{field} must be a non-negative integer, got {value!r}; "
                    "pass counts (rounded increase() of the counters), not rates"
                )
        if self.successes > self.trials:
            raise ValueError(
                f"ProportionCounts has {self.successes} successes out of only {self.trials} trials; "
                "successes count a subset of the trials (e.g. correct feedback of all feedback)"
            )

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else math.nan


def compare_proportions(
    *,
    canary: ProportionCounts,
    stable: ProportionCounts,
    max_drop: float,
    confidence: float,
    higher_is_better: bool = True,
    min_samples: int = MIN_SAMPLES,
    name: str | None = None,
    carried: float = 0.0,
) -> Comparison:
    """Sequentially test whether the canary's rate is worse than the stable's by max_drop.

    max_drop is the non-inferiority margin: a drop that large must be caught, no drop must pass,
    each with probability at least `confidence` (see sequential.py). For lower-is-better rates
    (errors of requests) pass higher_is_better=False; max_drop is then the rise to catch.
    Safe to call at every interval on cumulative counts; stop at the first decided verdict.
    The counts are this stratum's (the current analysis run's, at one canary weight); `carried` is
    the sum of the earlier strata's own statistics (Comparison.evidence), added before deciding.
    A stratum with too few samples is Unknown whatever was carried: no data never decides.
    """
    for label, counts in (("canary", canary), ("stable", stable)):
        if not isinstance(counts, ProportionCounts):
            raise TypeError(f"{label} must be ProportionCounts, got {type(counts).__name__}")
    if not isinstance(max_drop, int | float) or not 0 < max_drop < 1:
        raise ValueError(
            f"max_drop must be a proportion between 0 and 1 (exclusive), got {max_drop!r}; "
            "it is the drop the comparison must catch, e.g. 0.03 for 3 accuracy points "
            "(with 0 no canary could ever be shown to be no worse)"
        )
    alpha = sequential.check_confidence(confidence)
    carried = sequential.check_carried(carried)
    worse_at, not_worse_at = sequential.thresholds(alpha)
    label = name or ("success rate" if higher_is_better else "error rate")
    head = (
        f"canary {label} {_fmt(canary.rate)} vs stable {_fmt(stable.rate)} over "
        f"{canary.trials}/{stable.trials} samples (canary/stable)"
    )
    fewest = min(canary.trials, stable.trials)
    if fewest < max(min_samples, 1):
        track = "canary" if canary.trials <= stable.trials else "stable"
        return Comparison(
            verdict=Verdict.UNKNOWN,
            canary_value=canary.rate,
            stable_value=stable.rate,
            estimate=canary.rate - stable.rate,
            statistic=carried,
            worse_at=worse_at,
            not_worse_at=not_worse_at,
            canary_samples=canary.trials,
            stable_samples=stable.trials,
            message=f"{head}: not yet known, the {track} has {fewest} samples and the comparison "
            f"needs at least {min_samples} per track; keep collecting",
            carried=carried,
        )
    evidence = sequential.statistic(
        canary_successes=canary.successes,
        canary_trials=canary.trials,
        stable_successes=stable.successes,
        stable_trials=stable.trials,
        max_drop=max_drop,
        higher_is_better=higher_is_better,
    )
    statistic = carried + evidence
    verdict = sequential.decide(statistic, alpha=alpha)
    change = f"a {'drop' if higher_is_better else 'rise'} of {max_drop:.3f}"
    why = sequential.conclusion(
        verdict, statistic, change=change, confidence=confidence, carried=carried
    )
    return Comparison(
        verdict=verdict,
        canary_value=canary.rate,
        stable_value=stable.rate,
        estimate=canary.rate - stable.rate,
        statistic=statistic,
        worse_at=worse_at,
        not_worse_at=not_worse_at,
        canary_samples=canary.trials,
        stable_samples=stable.trials,
        message=f"{head}: {why}",
        carried=carried,
        evidence=evidence,
    )


def _fmt(rate: float) -> str:
    return "n/a" if math.isnan(rate) else f"{rate:.3f}"
