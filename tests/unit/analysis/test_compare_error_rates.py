"""Simulated streams checked at every interval: the sequential comparison keeps its error rates.

Each stream is one analysis: feedback arrives per 30 s interval (canary ~9, stable ~81 samples,
a 10% canary), and compare_proportions is called on the cumulative counts after every interval
until it decides, exactly as the judge will call it. Seeded, so the figures are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelrollout.analysis import compare
from modelrollout.analysis.compare import HistogramCounts, ProportionCounts, Verdict

pytestmark = pytest.mark.unit

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
MARGIN = 0.03
INTERVALS = 400  # 200 minutes; streams undecided by then count as neither error


def tolerance(streams: int) -> float:
    """Three binomial standard deviations of an error rate at the nominal level."""
    return 3 * math.sqrt(ALPHA * (1 - ALPHA) / streams)


def simulate(
    *, streams: int, seed: int, drop: float = 0.0, drift: float = 0.0
) -> tuple[np.ndarray, ...]:
    """Cumulative (canary correct, canary all, stable correct, stable all) per stream and interval.

    `drift` moves both tracks' accuracy linearly over the run (a data shift), from 0.9 + drift/2
    down to 0.9 - drift/2, so only the canary-versus-stable difference stays fixed.
    """
    rng = np.random.default_rng(seed)
    accuracy = 0.9 + drift / 2 - drift * np.linspace(0, 1, INTERVALS)
    canary_all = rng.poisson(9, (streams, INTERVALS))
    stable_all = rng.poisson(81, (streams, INTERVALS))
    canary_ok = rng.binomial(canary_all, accuracy - drop)
    stable_ok = rng.binomial(stable_all, accuracy)
    return tuple(np.cumsum(a, axis=1) for a in (canary_ok, canary_all, stable_ok, stable_all))


def first_verdicts(counts: tuple[np.ndarray, ...]) -> list[Verdict]:
    """Call the comparison after every interval of every stream; keep each stream's first verdict."""
    canary_ok, canary_all, stable_ok, stable_all = (a.tolist() for a in counts)
    verdicts = []
    for s in range(len(canary_ok)):
        verdict = Verdict.UNKNOWN
        for t in range(INTERVALS):
            verdict = compare.compare_proportions(
                canary=ProportionCounts(canary_ok[s][t], canary_all[s][t]),
                stable=ProportionCounts(stable_ok[s][t], stable_all[s][t]),
                max_drop=MARGIN,
                confidence=CONFIDENCE,
            ).verdict
            if verdict.is_decided:
                break
        verdicts.append(verdict)
    return verdicts


def rate(verdicts: list[Verdict], verdict: Verdict) -> float:
    return sum(v is verdict for v in verdicts) / len(verdicts)


def test_false_rollbacks_stay_within_the_nominal_level_when_checked_every_interval() -> None:
    verdicts = first_verdicts(simulate(streams=2000, seed=8))
    assert rate(verdicts, Verdict.WORSE) <= ALPHA + tolerance(2000)
    assert rate(verdicts, Verdict.NOT_WORSE) >= 0.9  # and it does pass good canaries


def test_missed_regressions_stay_within_the_nominal_level_when_checked_every_interval() -> None:
    verdicts = first_verdicts(simulate(streams=1000, seed=9, drop=MARGIN))
    assert rate(verdicts, Verdict.NOT_WORSE) <= ALPHA + tolerance(1000)
    assert rate(verdicts, Verdict.WORSE) >= 0.9


def test_a_data_shift_that_moves_both_tracks_does_not_cause_rollbacks() -> None:
    # Accuracy falls from 0.95 to 0.85 during the analysis, on both tracks alike.
    verdicts = first_verdicts(simulate(streams=1000, seed=10, drift=0.1))
    assert rate(verdicts, Verdict.WORSE) <= ALPHA + tolerance(1000)


def test_the_same_streams_do_catch_a_fixed_horizon_test_that_peeks_every_interval() -> None:
    # The harness can fail: a one-sided 5% z-test for "canary worse", checked every interval as
    # if it were final, rolls back far more than 5% of these good canaries.
    canary_ok, canary_all, stable_ok, stable_all = simulate(streams=2000, seed=8)
    with np.errstate(divide="ignore", invalid="ignore"):
        pc, ps = canary_ok / canary_all, stable_ok / stable_all
        pooled = (canary_ok + stable_ok) / (canary_all + stable_all)
        z = (pc - ps) / np.sqrt(pooled * (1 - pooled) * (1 / canary_all + 1 / stable_all))
    enough = (canary_all >= 30) & (stable_all >= 30)
    peeking = np.mean(np.any(enough & (z < -1.645), axis=1))
    assert peeking > 3 * ALPHA


def test_latency_false_rollbacks_stay_within_the_nominal_level_when_checked_every_interval() -> (
    None
):
    rng = np.random.default_rng(11)
    bounds = (0.025, 0.05, 0.075, 0.1, 0.25, 0.5, math.inf)
    cdf = [0.5 * (1 + math.erf(math.log(b / 0.04) / 0.5 / math.sqrt(2))) for b in bounds[:-1]]
    probabilities = np.diff([0.0, *cdf, 1.0])
    streams, intervals = 1000, 40
    worse = 0
    for _ in range(streams):
        canary = rng.multinomial(150, probabilities, size=intervals).cumsum(axis=0).cumsum(axis=1)
        stable = rng.multinomial(1350, probabilities, size=intervals).cumsum(axis=0).cumsum(axis=1)
        for t in range(intervals):
            verdict = compare.compare_latency(
                canary=HistogramCounts(bounds, tuple(canary[t].tolist())),
                stable=HistogramCounts(bounds, tuple(stable[t].tolist())),
                confidence=CONFIDENCE,
                max_increase_ratio=0.3,
            ).verdict
            if verdict.is_decided:
                worse += verdict is Verdict.WORSE
                break
    assert worse / streams <= ALPHA + tolerance(streams)
