"""Benchmark: four ways to judge a canary against the stable, on the same simulated streams.

Usage: python bench/judge.py [--quick] [--rollouts N] [--seed S] [--part single|rollout|all]

Each simulated rollout sends 10% of traffic to the canary and collects ground-truth feedback at
1-5 per second in all (drawn per rollout), judged every 30 s. The stable's accuracy (0.85-0.95 per
rollout) drifts by +-2 points over a 6-hour cycle on both tracks (a data shift); the canary's is
the stable's plus the true difference. The judges, all checked on the same counts:
  threshold  Argo/Flagger style: each interval, canary accuracy over the last 5 minutes must be at
             least the stable's usual accuracy minus 3 points; roll back after more than 3 failed
             measurements (failureLimit 3); pass at the fixed horizon.
  fixed      one-sided z-test (canary worse than stable, alpha 1%) once, at the sample size that
             gives 95% power against a 3-point drop.
  peeking    the same z-test checked at every interval (the common mistake); pass at the horizon.
  ours       modelrollout.analysis.sequential (max_drop 0.03, confidence 0.99) at every interval,
             until it decides; at 3x the fixed horizon an undecided analysis passes.
The latency part does the same with log-normal latencies in Prometheus' default buckets and
true slowdowns of 0%, 10% and 30% (ours: compare_latency, max_increase_ratio 0.3).
The rollout part (bench/judge_rollout.py) judges whole 10% -> 50% -> 100% rollouts on late feedback
for 30% of the requests, against the targets over the whole rollout rather than one analysis step.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import judge_rollout  # bench/, beside this script
import numpy as np
from scipy import stats

from modelrollout.analysis import compare, sequential

INTERVAL_S = 30
CANARY_SHARE = 0.1
MARGIN = 0.03  # the accuracy drop that must be caught
CONFIDENCE = 0.99
ALPHA, POWER = 0.01, 0.95  # the targets: <= 1% false rollbacks, >= 95% of drops caught
WINDOW = 10  # intervals in the threshold judge's 5-minute query window
FAILURE_LIMIT = 3
CAP = 3  # ours may run to 3x the fixed horizon before an undecided analysis passes
MIN_SAMPLES = compare.MIN_SAMPLES
METHODS = ("threshold", "fixed", "peeking", "ours")


@dataclass
class Outcome:
    """Per rollout: +1 rolled back, 0 passed, -1 undecided (passed at the cap); when; samples."""

    decision: np.ndarray
    interval: np.ndarray
    samples: np.ndarray


def fixed_horizon_samples(p_stable: np.ndarray, *, drop: float, alpha: float, power: float):
    """Canary samples a one-sided z-test needs for this alpha and power against `drop`."""
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    p_canary = p_stable - drop
    per_sample = p_canary * (1 - p_canary) + p_stable * (1 - p_stable) * CANARY_SHARE / (
        1 - CANARY_SHARE
    )
    return np.ceil(z**2 * per_sample / drop**2)


def first_true(mask: np.ndarray, default: np.ndarray) -> np.ndarray:
    """Index of the first True per row, or `default` where there is none."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), default)


@dataclass
class AccuracyStreams:
    """Per rollout and interval: correct and all feedback per track; each rollout's horizon."""

    base: np.ndarray  # the stable's usual accuracy, which a threshold user would know
    n_fixed: np.ndarray  # canary samples the fixed-horizon test needs
    canary_x: np.ndarray
    canary_n: np.ndarray
    stable_x: np.ndarray
    stable_n: np.ndarray


def accuracy_streams(
    rng: np.random.Generator, *, rollouts: int, difference: float
) -> AccuracyStreams:
    """Feedback counts per rollout and interval, and each rollout's fixed horizon."""
    rate = rng.uniform(1, 5, rollouts)  # feedback per second, both tracks together
    base = rng.uniform(0.85, 0.95, rollouts)
    n_fixed = fixed_horizon_samples(base, drop=MARGIN, alpha=ALPHA, power=POWER)
    per_interval = rate * INTERVAL_S * CANARY_SHARE
    intervals = int(np.max(CAP * n_fixed / per_interval) * 1.15) + 20
    t = np.arange(intervals) * INTERVAL_S
    phase = rng.uniform(0, 2 * np.pi, (rollouts, 1))
    stable_p = base[:, None] + 0.02 * np.sin(2 * np.pi * t / 21_600 + phase)
    canary_p = np.clip(stable_p + difference, 0, 1)
    canary_n = rng.poisson(per_interval[:, None], (rollouts, intervals))
    stable_n = rng.poisson(per_interval[:, None] * 9, (rollouts, intervals))
    canary_x = rng.binomial(canary_n, canary_p)
    stable_x = rng.binomial(stable_n, stable_p)
    return AccuracyStreams(base, n_fixed, canary_x, canary_n, stable_x, stable_n)


def judge_accuracy(streams: AccuracyStreams) -> dict[str, Outcome]:
    base, n_fixed = streams.base, streams.n_fixed
    cx, cn, sx, sn = (
        np.cumsum(a, axis=1)
        for a in (streams.canary_x, streams.canary_n, streams.stable_x, streams.stable_n)
    )
    rows, intervals = cn.shape
    last = np.full(rows, intervals - 1)
    horizon = first_true(cn >= n_fixed[:, None], last)
    cap = first_true(cn >= CAP * n_fixed[:, None], last)
    before_horizon = np.arange(intervals)[None, :] <= horizon[:, None]
    enough = (cn >= MIN_SAMPLES) & (sn >= MIN_SAMPLES)
    pick = np.arange(rows)

    # threshold: 5-minute window of canary feedback against a fixed floor
    wx = cx - np.pad(cx, ((0, 0), (WINDOW, 0)))[:, :intervals]
    wn = cn - np.pad(cn, ((0, 0), (WINDOW, 0)))[:, :intervals]
    with np.errstate(invalid="ignore", divide="ignore"):
        failed = (wn > 0) & (wx / wn < (base - MARGIN)[:, None]) & before_horizon
    aborted = np.cumsum(failed, axis=1) > FAILURE_LIMIT
    at = first_true(aborted, horizon)
    threshold = Outcome(aborted.any(axis=1).astype(int), at, cn[pick, at])

    # fixed horizon z-test, once, and the same test at every interval
    with np.errstate(invalid="ignore", divide="ignore"):
        pc, ps = cx / cn, sx / sn
        se = np.sqrt(pc * (1 - pc) / cn + ps * (1 - ps) / sn)
        z = (pc - ps) / np.where(se > 0, se, np.inf)
    worse = z < -stats.norm.ppf(1 - ALPHA)
    fixed = Outcome(worse[pick, horizon].astype(int), horizon, cn[pick, horizon])
    peeked = worse & enough & before_horizon
    at = first_true(peeked, horizon)
    peeking = Outcome(peeked.any(axis=1).astype(int), at, cn[pick, at])

    # ours: the operator's own statistic, at every interval, until it decides
    with np.errstate(invalid="ignore", divide="ignore"):
        llr = sequential.log_likelihood_ratio(
            canary_successes=cx,
            canary_trials=np.maximum(cn, 1),
            stable_successes=sx,
            stable_trials=np.maximum(sn, 1),
            max_drop=MARGIN,
        )
    worse_at, not_worse_at = sequential.thresholds(1 - CONFIDENCE)
    in_time = enough & (np.arange(intervals)[None, :] <= cap[:, None])
    first_worse = first_true(in_time & (llr >= worse_at), cap + 1)
    first_pass = first_true(in_time & (llr <= not_worse_at), cap + 1)
    decision = np.where(first_worse < first_pass, 1, np.where(first_pass <= cap, 0, -1))
    at = np.minimum(np.minimum(first_worse, first_pass), cap)
    ours = Outcome(decision, at, cn[pick, at])
    return {"threshold": threshold, "fixed": fixed, "peeking": peeking, "ours": ours}


def cross_check(
    rng: np.random.Generator, streams: AccuracyStreams, outcome: Outcome, *, rollouts: int
) -> int:
    """Replay some rollouts through compare.compare_proportions: same verdict, same interval."""
    cx, cn, sx, sn = (
        np.cumsum(a, axis=1)
        for a in (streams.canary_x, streams.canary_n, streams.stable_x, streams.stable_n)
    )
    for i in rng.choice(len(cn), size=min(rollouts, len(cn)), replace=False):
        for t in range(int(outcome.interval[i]) + 1):
            result = compare.compare_proportions(
                canary=compare.ProportionCounts(int(cx[i, t]), int(cn[i, t])),
                stable=compare.ProportionCounts(int(sx[i, t]), int(sn[i, t])),
                max_drop=MARGIN,
                confidence=CONFIDENCE,
            )
            if result.verdict.is_decided:
                break
        expected = {1: compare.Verdict.WORSE, 0: compare.Verdict.NOT_WORSE}.get(
            int(outcome.decision[i]), compare.Verdict.UNKNOWN
        )
        if result.verdict is not expected or t != outcome.interval[i]:
            raise SystemExit(
                f"rollout {i}: vectorised {expected} at {outcome.interval[i]}, "
                f"compare_proportions {result.verdict} at {t}"
            )
    return min(rollouts, len(cn))


BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, math.inf)
SIGMA = 0.5  # log-normal spread: p99 is about 3.2x the median
SLOWDOWN = 0.3  # the latency increase that must be caught


def lognormal_share_above(x: np.ndarray, median: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return stats.norm.sf(np.log(x / median) / SIGMA)


@dataclass
class LatencyStreams:
    """Per rollout: the bucket ours will test, horizon, usual p99; counts per interval, bucket."""

    at: np.ndarray
    n_fixed: np.ndarray
    nominal_p99: np.ndarray
    canary: np.ndarray
    stable: np.ndarray


def latency_streams(rng: np.random.Generator, *, rollouts: int, slowdown: float) -> LatencyStreams:
    """Per-interval bucket counts (not cumulative) per rollout, and what the judges need."""
    median = rng.uniform(0.03, 0.08, rollouts)
    rate = rng.uniform(2, 20, rollouts)  # requests per second, both tracks together
    finite = np.array(BOUNDS[:-1])
    stable_above = lognormal_share_above(finite[None, :], median[:, None])
    # the same bucket rule as compare_latency, applied to the true stable distribution
    at = np.array([np.flatnonzero(row >= 0.01).max(initial=0) for row in stable_above])
    bound = finite[at]
    e_stable = lognormal_share_above(bound, median)
    e_bad = lognormal_share_above(bound, median * (1 + SLOWDOWN))
    z = stats.norm.ppf(1 - ALPHA) + stats.norm.ppf(POWER)
    per = e_bad * (1 - e_bad) + e_stable * (1 - e_stable) / 9
    n_fixed = np.ceil(z**2 * per / (e_bad - e_stable) ** 2)
    per_interval = rate * INTERVAL_S * CANARY_SHARE
    intervals = int(np.max(CAP * n_fixed / per_interval) * 1.15) + 20

    def bucket_probabilities(scale: np.ndarray) -> np.ndarray:
        cdf = 1 - lognormal_share_above(finite[None, :], scale[:, None])
        return np.diff(
            np.concatenate([np.zeros((rollouts, 1)), cdf, np.ones((rollouts, 1))], 1), axis=1
        )

    def counts(requests_per_interval: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        n = rng.poisson(requests_per_interval[:, None], (rollouts, intervals))
        out = np.empty((rollouts, intervals, len(BOUNDS)), dtype=np.int64)
        for i in range(rollouts):
            out[i] = rng.multinomial(n[i], probabilities[i])
        return out

    canary = counts(per_interval, bucket_probabilities(median * (1 + slowdown)))
    stable = counts(per_interval * 9, bucket_probabilities(median))
    nominal_p99 = np.array(
        [
            compare.HistogramCounts(
                BOUNDS, tuple(int(c) for c in np.cumsum(np.round(p * 1e9)))
            ).quantile(0.99)
            for p in bucket_probabilities(median)
        ]
    )
    return LatencyStreams(at, n_fixed, nominal_p99, canary, stable)


def histogram_quantile(cumulative: np.ndarray, q: float) -> np.ndarray:
    """Prometheus' histogram_quantile over the last axis of cumulative bucket counts."""
    total = cumulative[..., -1]
    rank = q * total
    index = np.minimum(np.argmax(cumulative >= rank[..., None], axis=-1), len(BOUNDS) - 2)
    upper = np.array(BOUNDS)[index]
    lower = np.where(index > 0, np.array((0.0, *BOUNDS))[index], 0.0)
    below = np.where(
        index > 0,
        np.take_along_axis(cumulative, np.maximum(index - 1, 0)[..., None], -1)[..., 0],
        0,
    )
    count = np.take_along_axis(cumulative, index[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return lower + (upper - lower) * (rank - below) / np.maximum(count - below, 1)


def judge_latency(streams: LatencyStreams) -> dict[str, Outcome]:
    at, n_fixed, nominal_p99 = streams.at, streams.n_fixed, streams.nominal_p99
    canary, stable = streams.canary, streams.stable
    rows, intervals, _ = canary.shape
    c_cum = np.cumsum(np.cumsum(canary, axis=1), axis=2)  # over time, then over buckets
    s_cum = np.cumsum(np.cumsum(stable, axis=1), axis=2)
    cn, sn = c_cum[..., -1], s_cum[..., -1]
    pick = np.arange(rows)
    last = np.full(rows, intervals - 1)
    horizon = first_true(cn >= n_fixed[:, None], last)
    cap = first_true(cn >= CAP * n_fixed[:, None], last)
    before_horizon = np.arange(intervals)[None, :] <= horizon[:, None]

    window = c_cum - np.pad(c_cum, ((0, 0), (WINDOW, 0), (0, 0)))[:, :intervals]
    p99 = histogram_quantile(window, 0.99)
    failed = (
        (window[..., -1] > 0) & (p99 > (nominal_p99 * (1 + SLOWDOWN))[:, None]) & before_horizon
    )
    aborted = np.cumsum(failed, axis=1) > FAILURE_LIMIT
    when = first_true(aborted, horizon)
    threshold = Outcome(aborted.any(axis=1).astype(int), when, cn[pick, when])

    cx = cn - np.take_along_axis(c_cum, at[:, None, None], 2)[..., 0]
    sx = sn - np.take_along_axis(s_cum, at[:, None, None], 2)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        pc, ps = cx / cn, sx / sn
        se = np.sqrt(pc * (1 - pc) / cn + ps * (1 - ps) / sn)
        z = (pc - ps) / np.where(se > 0, se, np.inf)
    worse = z > stats.norm.ppf(1 - ALPHA)
    fixed = Outcome(worse[pick, horizon].astype(int), horizon, cn[pick, horizon])
    peeked = worse & before_horizon
    when = first_true(peeked, horizon)
    peeking = Outcome(peeked.any(axis=1).astype(int), when, cn[pick, when])

    decision, when = np.full(rows, -1), cap.copy()
    for i in range(rows):
        for t in range(int(cap[i]) + 1):
            verdict = compare.compare_latency(
                canary=compare.HistogramCounts(BOUNDS, tuple(c_cum[i, t].tolist())),
                stable=compare.HistogramCounts(BOUNDS, tuple(s_cum[i, t].tolist())),
                confidence=CONFIDENCE,
                max_increase_ratio=SLOWDOWN,
            ).verdict
            if verdict.is_decided:
                decision[i], when[i] = int(verdict is compare.Verdict.WORSE), t
                break
    ours = Outcome(decision, when, cn[pick, when])
    return {"threshold": threshold, "fixed": fixed, "peeking": peeking, "ours": ours}


def summarise(outcome: Outcome) -> tuple[float, float, float, float, float]:
    """(rolled back, passed, undecided) in %, median samples, median minutes."""
    decision = outcome.decision
    minutes = (outcome.interval + 1) * INTERVAL_S / 60
    return (
        100 * np.mean(decision == 1),
        100 * np.mean(decision == 0),
        100 * np.mean(decision == -1),
        float(np.median(outcome.samples)),
        float(np.median(minutes)),
    )


def print_table(title: str, unit: str, rows: list[tuple[str, dict[str, Outcome]]]) -> None:
    print(f"\n{title}")
    print(
        f"{'true change':>12} {'judge':>10} {'rolled back':>12} {'passed':>8} {'undecided':>10} "
        f"{'median ' + unit:>22} {'median min':>11}"
    )
    for label, outcomes in rows:
        for method in METHODS:
            back, passed, undecided, samples, minutes = summarise(outcomes[method])
            print(
                f"{label:>12} {method:>10} {back:>11.2f}% {passed:>7.2f}% {undecided:>9.2f}% "
                f"{samples:>22.0f} {minutes:>11.1f}"
            )


def equal_error_fixed_samples(base: np.ndarray, *, false_rollbacks: float, caught: float, n: int):
    """Samples a fixed-horizon test needs to match these error rates (0 observed -> 0.5/n)."""
    alpha = min(max(false_rollbacks, 0.5 / n), 0.5)
    power = max(min(caught, 1 - 0.5 / n), 0.5)
    return fixed_horizon_samples(base, drop=MARGIN, alpha=alpha, power=power)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast run with fewer rollouts")
    parser.add_argument("--rollouts", type=int, help="rollouts per true change (default 10000)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--part",
        choices=("single", "rollout", "all"),
        default="all",
        help="single: one analysis at 10%% (accuracy and latency); rollout: whole 10/50/100%% rollouts",
    )
    args = parser.parse_args(argv)
    rollouts = args.rollouts or (500 if args.quick else 10_000)
    started = time.monotonic()
    if args.part in ("single", "all"):
        single(rollouts=rollouts, seed=args.seed)
    if args.part in ("rollout", "all"):
        results = judge_rollout.run(rollouts=rollouts, seed=args.seed)
        judge_rollout.print_report(results, rollouts=rollouts)
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


def single(*, rollouts: int, seed: int) -> None:
    """The one-analysis tables: accuracy at 10% canary weight, then latency."""
    chunk = 500
    print(
        f"{rollouts} rollouts per true change; canary weight {CANARY_SHARE:.0%}; "
        f"{INTERVAL_S} s intervals; ours: max_drop {MARGIN}, confidence {CONFIDENCE}"
    )

    accuracy_rows, per_difference = [], {}
    checked = 0
    for points in (0, 1, 3, 5):
        rng = np.random.default_rng([seed, points])
        parts, bases = [], []
        for start in range(0, rollouts, chunk):
            streams = accuracy_streams(
                rng, rollouts=min(chunk, rollouts - start), difference=-points / 100
            )
            outcome = judge_accuracy(streams)
            if start == 0:
                checked += cross_check(rng, streams, outcome["ours"], rollouts=25)
            parts.append(outcome)
            bases.append(streams.base)
        merged = {
            m: Outcome(
                *(
                    np.concatenate([getattr(p[m], f) for p in parts])
                    for f in ("decision", "interval", "samples")
                )
            )
            for m in METHODS
        }
        per_difference[points] = (merged, np.concatenate(bases))
        accuracy_rows.append((f"-{points} pt", merged))
    print_table(
        "Online accuracy (feedback samples are the canary's; the stable gets 9x as many)",
        "canary feedback",
        accuracy_rows,
    )
    print(f"(ours replayed through compare.compare_proportions on {checked} rollouts: identical)")

    ours0, base0 = per_difference[0][0]["ours"], per_difference[0][1]
    ours3, base3 = per_difference[3][0]["ours"], per_difference[3][1]
    false_rollbacks = float(np.mean(ours0.decision == 1))
    caught = float(np.mean(ours3.decision == 1))
    print("\nTargets (issue 8), ours:")
    print(f"  false rollbacks with no true difference: {false_rollbacks:.2%} (target <= 1%)")
    print(f"  3-point drops caught: {caught:.2%} (target >= 95%)")
    ratios = []
    for points, (ours, base) in ((0, (ours0, base0)), (3, (ours3, base3))):
        planned = fixed_horizon_samples(base, drop=MARGIN, alpha=ALPHA, power=POWER)
        same = equal_error_fixed_samples(
            base, false_rollbacks=false_rollbacks, caught=caught, n=rollouts
        )
        ratio = float(np.median(ours.samples / same))
        ratios.append(ratio)
        print(
            f"  -{points} pt, canary samples, ours / fixed-horizon test with ours' error rates: "
            f"median {ratio:.2f}, mean {np.mean(ours.samples) / np.mean(same):.2f}; "
            f"ours / fixed-horizon planned for 1%/95%: median {np.median(ours.samples / planned):.2f}"
        )
    met = false_rollbacks <= ALPHA and caught >= POWER and max(ratios) <= 0.5
    print(f"  target met: {'yes' if met else 'NO'} (<= 1%, >= 95%, <= 0.5 of the samples)")

    latency_rows = []
    latency_rollouts = max(rollouts // 4, 100)
    for percent in (0, 10, 30):
        rng = np.random.default_rng([seed, 100 + percent])
        parts = []
        for start in range(0, latency_rollouts, chunk):
            streams = latency_streams(
                rng, rollouts=min(chunk, latency_rollouts - start), slowdown=percent / 100
            )
            parts.append(judge_latency(streams))
        merged = {
            m: Outcome(
                *(
                    np.concatenate([getattr(p[m], f) for p in parts])
                    for f in ("decision", "interval", "samples")
                )
            )
            for m in METHODS
        }
        latency_rows.append((f"+{percent}%", merged))
    print_table(
        f"Latency p99, {latency_rollouts} rollouts per change, 2-20 requests/s "
        f"(ours: max_increase_ratio {SLOWDOWN}, confidence {CONFIDENCE})",
        "canary requests",
        latency_rows,
    )


if __name__ == "__main__":
    sys.exit(main())
