"""Canary-versus-stable latency comparison from histogram buckets (a provider's counts).

Called through compare.compare_latency with each track's cumulative `le` bucket counts. The test:
take the bucket bound b nearest the stable's quantile from below (the largest with at least 1 - q of
the stable's requests above it), and compare the share of requests slower than b on each track with
the sequential test in sequential.py. The "worse" hypothesis is the stable's own distribution
slowed by the allowed increase, read off the stable's histogram, so the margin is in the user's
terms (a ratio or milliseconds) while the test runs on exact counts: no interpolated quantile is
ever tested. Within a bucket the tail is interpolated linearly in log-log space, because latency
tails fall off steeply and a linear CDF would overstate the slowdown's effect in wide buckets.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

from modelrollout.analysis import sequential
from modelrollout.analysis.sequential import Comparison, Verdict

# The Gaussian approximation needs a few slow requests on each track before it can be trusted.
MIN_EXCEEDANCES = 10
# A margin that moves the share of slow requests by less than this (relative) is invisible in
# practice: the test would need millions of requests, so say the buckets are too coarse instead.
MIN_RELATIVE_GAP = 0.05


@dataclass(frozen=True)
class HistogramCounts:
    """One track's histogram over the window: `le` bounds in seconds, +Inf last, cumulative."""

    upper_bounds: tuple[float, ...]
    cumulative_counts: tuple[int, ...]

    def __post_init__(self) -> None:
        bounds, counts = self.upper_bounds, self.cumulative_counts
        if len(bounds) != len(counts) or len(bounds) < 2:
            raise ValueError(
                f"HistogramCounts needs one cumulative count per bucket bound and at least one "
                f"finite bound, got {len(bounds)} bounds and {len(counts)} counts"
            )
        if not math.isinf(bounds[-1]) or bounds[-1] < 0:
            raise ValueError(
                f"HistogramCounts: the last bucket bound must be +Inf, got {bounds[-1]}"
            )
        if any(not b < a for b, a in itertools.pairwise(bounds)):
            raise ValueError(f"HistogramCounts: bucket bounds must increase strictly, got {bounds}")
        for count in counts:
            if not isinstance(count, numbers.Integral) or isinstance(count, bool) or count < 0:
                raise ValueError(
                    f"HistogramCounts: counts must be non-negative integers, got {count!r}; "
                    "round the increase() of each bucket"
                )
        if any(b < a for a, b in itertools.pairwise(counts)):
            raise ValueError(
                f"HistogramCounts: counts must be cumulative (never decreasing), got {counts}; "
                "pass the `le` buckets as Prometheus exports them"
            )

    @property
    def total(self) -> int:
        return int(self.cumulative_counts[-1])

    def above(self, index: int) -> int:
        """Requests slower than upper_bounds[index]."""
        return self.total - int(self.cumulative_counts[index])

    def quantile(self, q: float) -> float:
        """The q-quantile as Prometheus' histogram_quantile estimates it; nan without data."""
        if self.total == 0:
            return math.nan
        rank = q * self.total
        lower, below = 0.0, 0
        for bound, count in zip(self.upper_bounds, self.cumulative_counts, strict=True):
            if count >= rank:
                if math.isinf(bound):
                    return lower  # the +Inf bucket has no width; Prometheus does the same
                return lower + (bound - lower) * (rank - below) / max(count - below, 1)
            lower, below = bound, count
        return lower

    def share_above(self, latency: float) -> float:
        """Share of requests slower than `latency`, interpolated inside its bucket."""
        if latency <= 0:
            return 1.0
        lower, share_lower = 0.0, 1.0
        for bound, count in zip(self.upper_bounds, self.cumulative_counts, strict=True):
            share = 1 - count / self.total
            if latency <= bound and not math.isinf(bound):
                if lower <= 0 or share <= 0:
                    return share_lower + (share - share_lower) * (latency - lower) / (bound - lower)
                step = math.log(latency / lower) / math.log(bound / lower)
                return math.exp(math.log(share_lower) + step * math.log(share / share_lower))
            lower, share_lower = bound, share
        return share_lower


def compare_latency(
    *,
    canary: HistogramCounts,
    stable: HistogramCounts,
    confidence: float,
    quantile: float = 0.99,
    max_increase_ratio: float | None = None,
    max_increase_ms: float | None = None,
    min_exceedances: int = MIN_EXCEEDANCES,
    carried: float = 0.0,
) -> Comparison:
    """Sequentially test whether the canary is slower than the stable by the allowed increase.

    Give exactly one of max_increase_ratio (0.3: 30% slower) or max_increase_ms. The margin
    means what max_drop means for proportions: a slowdown that large must be caught, none must pass.
    `carried` means what it means for compare_proportions: the earlier strata's log odds.
    """
    _check(canary=canary, stable=stable, quantile=quantile, confidence=confidence)
    alpha = sequential.check_confidence(confidence)
    carried = sequential.check_carried(carried)
    slowed, change = _slowdown(max_increase_ratio, max_increase_ms)
    worse_at, not_worse_at = sequential.thresholds(alpha)
    q_canary, q_stable = canary.quantile(quantile), stable.quantile(quantile)
    name = f"p{quantile * 100:g}"
    head = (
        f"canary {name} {_ms(q_canary)} vs stable {_ms(q_stable)} (bucket estimates) over "
        f"{canary.total}/{stable.total} requests (canary/stable)"
    )

    def result(verdict: Verdict, evidence: float, why: str) -> Comparison:
        return Comparison(
            verdict=verdict,
            canary_value=q_canary,
            stable_value=q_stable,
            estimate=q_canary - q_stable,
            statistic=carried + evidence,
            worse_at=worse_at,
            not_worse_at=not_worse_at,
            canary_samples=canary.total,
            stable_samples=stable.total,
            message=f"{head}: {why}",
            carried=carried,
            evidence=evidence,
        )

    if canary.total == 0 or stable.total == 0:
        track = "canary" if canary.total == 0 else "stable"
        return result(Verdict.UNKNOWN, 0.0, f"not yet known, no {track} requests; keep collecting")
    shares = [1 - c / stable.total for c in stable.cumulative_counts[:-1]]
    at = max((i for i, s in enumerate(shares) if s >= 1 - quantile), default=0)
    bound = stable.upper_bounds[at]
    slow_canary, slow_stable = canary.above(at), stable.above(at)
    expected = canary.total * slow_stable / stable.total
    if min(expected, slow_stable) < min_exceedances:
        return result(
            Verdict.UNKNOWN,
            0.0,
            f"not yet known, {slow_stable} stable and about {expected:.1f} expected canary "
            f"requests above {_ms(bound)}, the comparison needs {min_exceedances} each; "
            "keep collecting (or add histogram buckets near the quantile)",
        )
    gap = stable.share_above(slowed(bound)) - slow_stable / stable.total
    if gap < MIN_RELATIVE_GAP * slow_stable / stable.total:
        return result(
            Verdict.UNKNOWN,
            0.0,
            f"not yet known, the buckets around {_ms(bound)} are too coarse to see "
            f"{change}; add histogram buckets near the {name}",
        )
    evidence = sequential.statistic(
        canary_successes=slow_canary,
        canary_trials=canary.total,
        stable_successes=slow_stable,
        stable_trials=stable.total,
        max_drop=gap,
        higher_is_better=False,
    )
    verdict = sequential.decide(carried + evidence, alpha=alpha)
    shares_text = (
        f"{slow_canary / canary.total:.2%} of canary requests are slower than {_ms(bound)}, "
        f"{slow_stable / stable.total:.2%} of stable ones; "
    )
    why = sequential.conclusion(
        verdict, carried + evidence, change=change, confidence=confidence, carried=carried
    )
    return result(verdict, evidence, shares_text + why)


def _check(
    *, canary: HistogramCounts, stable: HistogramCounts, quantile: float, confidence: float
) -> None:
    for label, counts in (("canary", canary), ("stable", stable)):
        if not isinstance(counts, HistogramCounts):
            raise TypeError(f"{label} must be HistogramCounts, got {type(counts).__name__}")
    if canary.upper_bounds != stable.upper_bounds:
        raise ValueError(
            f"canary and stable histograms have different buckets ({canary.upper_bounds} vs "
            f"{stable.upper_bounds}); both tracks must export the same `le` bounds"
        )
    if stable.upper_bounds[0] <= 0:
        raise ValueError(f"latency bucket bounds must be positive, got {stable.upper_bounds[0]}")
    if not isinstance(quantile, int | float) or not 0.5 <= quantile < 1:
        raise ValueError(f"quantile must be in [0.5, 1), got {quantile!r}; e.g. 0.99 for p99")
    sequential.check_confidence(confidence)


def _slowdown(ratio: float | None, ms: float | None) -> tuple[Callable[[float], float], str]:
    """Map a latency to the one that, slowed by the margin, becomes it; and the margin in words."""
    if (ratio is None) == (ms is None):
        raise ValueError(
            "give exactly one of max_increase_ratio (e.g. 0.3 for 30% slower) or max_increase_ms"
        )
    if ratio is not None:
        if not isinstance(ratio, int | float) or not 0 < ratio <= 100:
            raise ValueError(f"max_increase_ratio must be positive, e.g. 0.3; got {ratio!r}")
        return (lambda latency: latency / (1 + ratio)), f"a {ratio:.0%} slowdown"
    assert ms is not None
    if not isinstance(ms, int | float) or not ms > 0:
        raise ValueError(f"max_increase_ms must be a positive number of ms, got {ms!r}")
    return (lambda latency: latency - ms / 1000), f"a {ms:g} ms slowdown"


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.3g} ms"
