"""Properties of the comparison over arbitrary valid counts: it always answers, and consistently."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout.analysis import compare
from modelrollout.analysis.compare import HistogramCounts, ProportionCounts, Verdict

pytestmark = pytest.mark.unit


@st.composite
def proportions(draw: st.DrawFn, *, most: int = 1_000_000) -> ProportionCounts:
    trials = draw(st.integers(min_value=0, max_value=most))
    return ProportionCounts(draw(st.integers(min_value=0, max_value=trials)), trials)


@st.composite
def histograms(draw: st.DrawFn, bounds: tuple[float, ...]) -> HistogramCounts:
    per_bucket = draw(st.lists(st.integers(0, 50_000), min_size=len(bounds), max_size=len(bounds)))
    cumulative = tuple(sum(per_bucket[: i + 1]) for i in range(len(bounds)))
    return HistogramCounts(bounds, cumulative)


BOUNDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, math.inf)
margins = st.floats(min_value=0.001, max_value=0.5)
confidences = st.floats(min_value=0.5, max_value=0.999)


@settings(max_examples=150, deadline=None)
@given(
    canary=proportions(),
    stable=proportions(),
    max_drop=margins,
    confidence=confidences,
    higher_is_better=st.booleans(),
)
def test_any_valid_counts_get_a_verdict_that_agrees_with_the_statistic(
    canary: ProportionCounts,
    stable: ProportionCounts,
    max_drop: float,
    confidence: float,
    higher_is_better: bool,
) -> None:
    result = compare.compare_proportions(
        canary=canary,
        stable=stable,
        max_drop=max_drop,
        confidence=confidence,
        higher_is_better=higher_is_better,
    )
    assert math.isfinite(result.statistic)
    assert result.not_worse_at < 0 < result.worse_at
    assert (result.verdict is Verdict.WORSE) == (result.statistic >= result.worse_at)
    assert (result.verdict is Verdict.NOT_WORSE) == (result.statistic <= result.not_worse_at)
    assert result.message.startswith("canary ")
    if min(canary.trials, stable.trials) < compare.MIN_SAMPLES:
        assert result.verdict is Verdict.UNKNOWN


@settings(max_examples=100, deadline=None)
@given(
    canary=proportions(most=100_000),
    stable=proportions(most=100_000),
    max_drop=margins,
    higher_is_better=st.booleans(),
)
def test_a_better_canary_never_gets_a_worse_statistic(
    canary: ProportionCounts, stable: ProportionCounts, max_drop: float, higher_is_better: bool
) -> None:
    if canary.successes == canary.trials:
        return
    better = ProportionCounts(canary.successes + 1, canary.trials)
    if not higher_is_better:
        canary, better = better, canary  # one success fewer is better for an error rate

    def statistic(counts: ProportionCounts) -> float:
        return compare.compare_proportions(
            canary=counts,
            stable=stable,
            max_drop=max_drop,
            confidence=0.95,
            higher_is_better=higher_is_better,
        ).statistic

    assert statistic(better) <= statistic(canary) + 1e-9


@settings(max_examples=150, deadline=None)
@given(
    canary=histograms(BOUNDS),
    stable=histograms(BOUNDS),
    quantile=st.floats(min_value=0.5, max_value=0.999),
    ratio=st.floats(min_value=0.01, max_value=5),
)
def test_any_valid_histograms_get_a_verdict_that_agrees_with_the_statistic(
    canary: HistogramCounts, stable: HistogramCounts, quantile: float, ratio: float
) -> None:
    result = compare.compare_latency(
        canary=canary,
        stable=stable,
        confidence=0.95,
        quantile=quantile,
        max_increase_ratio=ratio,
    )
    assert math.isfinite(result.statistic)
    assert (result.verdict is Verdict.WORSE) == (result.statistic >= result.worse_at)
    assert (result.verdict is Verdict.NOT_WORSE) == (result.statistic <= result.not_worse_at)
    if canary.total and stable.total:
        assert 0 <= result.stable_value <= BOUNDS[-2]


@settings(max_examples=100, deadline=None)
@given(histogram=histograms(BOUNDS), latency=st.floats(min_value=0, max_value=2))
def test_the_tail_share_is_a_probability_that_falls_with_latency(
    histogram: HistogramCounts, latency: float
) -> None:
    if histogram.total == 0:
        return
    share = histogram.share_above(latency)
    assert 0 <= share <= 1
    assert histogram.share_above(latency * 1.1 + 1e-6) <= share + 1e-12
