"""Known cases and input validation for the latency comparison from histogram buckets."""

from __future__ import annotations

import math

import pytest

from modelrollout.analysis import compare
from modelrollout.analysis.compare import HistogramCounts, Verdict

pytestmark = pytest.mark.unit

INF = math.inf
# prometheus_client's default buckets, as the model server exports them.
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, INF)


def lognormal_histogram(requests: int, *, median: float, slower: float = 0.0) -> HistogramCounts:
    """Expected bucket counts for log-normal latencies (sigma 0.5), optionally slowed down."""

    def cdf(x: float) -> float:
        if math.isinf(x):
            return 1.0
        z = math.log(x / (median * (1 + slower))) / 0.5
        return 0.5 * (1 + math.erf(z / math.sqrt(2)))

    return HistogramCounts(BOUNDS, tuple(round(requests * cdf(b)) for b in BOUNDS))


def judge(canary: HistogramCounts, stable: HistogramCounts, **margin: float) -> compare.Comparison:
    margin = margin or {"max_increase_ratio": 0.3}
    return compare.compare_latency(canary=canary, stable=stable, confidence=0.95, **margin)


def test_a_canary_slower_by_the_margin_is_worse() -> None:
    stable = lognormal_histogram(90_000, median=0.04)
    result = judge(lognormal_histogram(10_000, median=0.04, slower=0.3), stable)
    assert result.verdict is Verdict.WORSE
    assert result.canary_value > result.stable_value
    assert "roll back" in result.message


def test_a_canary_as_fast_as_the_stable_is_not_worse() -> None:
    stable = lognormal_histogram(90_000, median=0.04)
    result = judge(lognormal_histogram(10_000, median=0.04), stable)
    assert result.verdict is Verdict.NOT_WORSE
    assert result.estimate == pytest.approx(0.0, abs=1e-3)


def test_a_canary_faster_than_the_stable_is_not_worse() -> None:
    stable = lognormal_histogram(90_000, median=0.04)
    assert judge(lognormal_histogram(10_000, median=0.03), stable).verdict is Verdict.NOT_WORSE


def test_a_slowdown_well_inside_the_margin_passes() -> None:
    stable = lognormal_histogram(90_000, median=0.04)
    result = judge(lognormal_histogram(10_000, median=0.04, slower=0.05), stable)
    assert result.verdict is Verdict.NOT_WORSE


def test_the_margin_can_be_given_in_milliseconds() -> None:
    stable = lognormal_histogram(90_000, median=0.04)
    slow = lognormal_histogram(10_000, median=0.04, slower=0.5)
    assert judge(slow, stable, max_increase_ms=20).verdict is Verdict.WORSE
    assert judge(slow, stable, max_increase_ms=200).verdict is Verdict.NOT_WORSE
    assert "a 20 ms slowdown" in judge(slow, stable, max_increase_ms=20).message


def test_a_few_requests_are_not_enough_to_judge() -> None:
    stable = lognormal_histogram(90_000, median=0.04)
    result = judge(lognormal_histogram(100, median=0.04, slower=0.3), stable)
    assert result.verdict is Verdict.UNKNOWN
    assert "needs 10 each" in result.message


def test_no_canary_requests_is_unknown_not_a_failure() -> None:
    empty = HistogramCounts(BOUNDS, (0,) * len(BOUNDS))
    result = judge(empty, lognormal_histogram(90_000, median=0.04))
    assert result.verdict is Verdict.UNKNOWN
    assert "no canary requests" in result.message
    assert math.isnan(result.canary_value)


def test_buckets_too_coarse_to_see_the_margin_are_reported_as_such() -> None:
    bounds = (0.1, 1.0, 10.0, INF)
    stable = HistogramCounts(bounds, (9800, 9800, 10_000, 10_000))
    canary = HistogramCounts(bounds, (950, 950, 1000, 1000))
    result = judge(canary, stable)
    assert result.verdict is Verdict.UNKNOWN
    assert "too coarse" in result.message
    assert "add histogram buckets" in result.message


def test_the_message_names_the_quantile_the_bucket_and_the_shares() -> None:
    stable = lognormal_histogram(90_000, median=0.04)
    result = judge(lognormal_histogram(10_000, median=0.04, slower=0.3), stable)
    assert result.message.startswith("canary p99 ")
    assert "(bucket estimates) over 10000/90000 requests" in result.message
    assert "of canary requests are slower than 100 ms" in result.message
    assert "a 30% slowdown" in result.message


@pytest.mark.parametrize(
    ("counts", "q", "expected"),
    [
        ((50, 80, 100, 100), 0.5, 0.1),
        ((50, 80, 100, 100), 0.9, 0.3),
        ((50, 80, 100, 100), 0.65, 0.15),
        ((10, 20, 30, 100), 0.99, 0.4),  # in the +Inf bucket: the highest finite bound
    ],
)
def test_quantiles_are_estimated_as_prometheus_does(
    counts: tuple[int, ...], q: float, expected: float
) -> None:
    assert HistogramCounts((0.1, 0.2, 0.4, INF), counts).quantile(q) == pytest.approx(expected)


def test_the_tail_share_is_read_off_the_buckets() -> None:
    histogram = HistogramCounts((0.1, 0.2, 0.4, INF), (50, 80, 100, 100))
    assert histogram.share_above(0.2) == pytest.approx(0.2)
    assert histogram.share_above(0.05) == pytest.approx(0.75)  # linear in the first bucket
    # log-log between (0.2, 0.2) and (0.4, 0.0) is undefined at 0: linear there too.
    assert histogram.share_above(0.3) == pytest.approx(0.1)
    between = HistogramCounts((0.1, 0.2, 0.4, INF), (50, 90, 99, 100)).share_above(0.15)
    assert 0.1 < between < 0.3  # inside the bucket, between its two edges
    assert histogram.share_above(0.0) == 1.0


@pytest.mark.parametrize(
    ("bounds", "counts", "needle"),
    [
        ((0.1, INF), (1,), "one cumulative count per bucket bound"),
        ((INF,), (1,), "at least one finite bound"),
        ((0.1, 0.2), (1, 2), r"last bucket bound must be \+Inf"),
        ((0.2, 0.1, INF), (1, 2, 3), "must increase strictly"),
        ((0.1, 0.1, INF), (1, 2, 3), "must increase strictly"),
        ((0.1, 0.2, INF), (5, 3, 6), "must be cumulative"),
        ((0.1, 0.2, INF), (-1, 3, 6), "non-negative integers"),
        ((0.1, 0.2, INF), (1.5, 3, 6), "non-negative integers"),
    ],
)
def test_malformed_histograms_are_refused_with_the_reason(
    bounds: tuple[float, ...], counts: tuple[int, ...], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        HistogramCounts(bounds, counts)


def test_histograms_with_different_buckets_cannot_be_compared() -> None:
    canary = HistogramCounts((0.1, 0.2, INF), (1, 2, 3))
    stable = HistogramCounts((0.1, 0.3, INF), (1, 2, 3))
    with pytest.raises(ValueError, match="different buckets"):
        judge(canary, stable)


@pytest.mark.parametrize(
    ("margin", "needle"),
    [
        ({}, "exactly one of max_increase_ratio"),
        ({"max_increase_ratio": 0.3, "max_increase_ms": 10}, "exactly one"),
        ({"max_increase_ratio": -0.3}, "max_increase_ratio must be positive"),
        ({"max_increase_ms": 0}, "max_increase_ms must be a positive number"),
    ],
)
def test_the_margin_must_be_given_once_and_positive(margin: dict[str, float], needle: str) -> None:
    histogram = lognormal_histogram(1000, median=0.04)
    with pytest.raises(ValueError, match=needle):
        compare.compare_latency(canary=histogram, stable=histogram, confidence=0.95, **margin)


@pytest.mark.parametrize(("quantile", "confidence"), [(1.0, 0.95), (0.3, 0.95), (0.99, 1.0)])
def test_a_quantile_or_confidence_out_of_range_is_refused(
    quantile: float, confidence: float
) -> None:
    histogram = lognormal_histogram(1000, median=0.04)
    with pytest.raises(ValueError, match="must be"):
        compare.compare_latency(
            canary=histogram,
            stable=histogram,
            confidence=confidence,
            quantile=quantile,
            max_increase_ratio=0.3,
        )
