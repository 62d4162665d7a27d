"""Benchmark: judging a whole 10% -> 50% -> 100% rollout on late, partial ground-truth feedback.

Usage: python bench/judge_rollout.py [--quick] [--rollouts N] [--seed S] (bench/judge.py runs it too)

Each simulated rollout runs an analysis at 10% canary weight, then one at 50%, then promotes (100%).
Requests arrive at 3.3-17 per second in all (drawn per rollout); ground truth comes back for 30% of
them (1-5 feedback per second), late: each after an exponential delay with a mean of DELAY_MEAN
analysis intervals, counted when it arrives, on the track that made the prediction, so the first
intervals at 50% still bring feedback on predictions made at 10%. The stable's accuracy (0.85-0.95
per rollout) drifts by +-2 points over a 6-hour cycle on both tracks; the canary's is the stable's
plus the true difference. A step's weight moves at once when the step before it passes, and the
step after the last analysis promotes. Judged every 30 s; per analysis step:
  threshold  Argo/Flagger style: canary accuracy of the feedback of the last 5 minutes must be at
             least the stable's usual accuracy minus 3 points; more than 3 failed measurements in
             the step roll back; the step passes at the fixed horizon for its weight.
  fixed      one-sided z-test (alpha 1%) once per step, at the fixed horizon for its weight.
  peeking    the same z-test at every interval of the step; the step passes at its horizon.
  restarted  ours, each step judged on its own counts from scratch (the operator before strata).
  pooled     ours on counts pooled over the whole rollout, across weights (the naive carry-over).
  ours       the operator's rule: each step's own counts, the earlier steps' log odds added
             (sequential.log_likelihood_ratio per step, as compare.compare_proportions(carried=...)).
All "ours" variants: max_drop 0.03, confidence 0.99, an undecided step passes at 3x its horizon.
Feedback arrival is simulated exactly: predictions are Poisson, so correct and incorrect feedback
arriving in each interval is Poisson with the mean of everything in flight (Poisson splitting).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from modelrollout.analysis import compare, sequential

INTERVAL_S = 30
WEIGHTS = (0.1, 0.5)  # analysis steps; the step after the last promotes (100%)
FEEDBACK_SHARE = 0.3  # requests whose ground truth ever comes back
DELAY_MEAN = 3.0  # feedback delay, mean in analysis intervals (exponential): 90 s
MARGIN = 0.03
CONFIDENCE = 0.99
ALPHA, POWER = 0.01, 0.95  # the targets: <= 1% false rollbacks, >= 95% of 3-point drops caught
WINDOW = 10  # intervals in the threshold judge's 5-minute window
FAILURE_LIMIT = 3
CAP = 3  # an undecided step of ours passes at 3x its fixed horizon
MIN_SAMPLES = compare.MIN_SAMPLES
JUDGES = ("threshold", "fixed", "peeking", "restarted", "pooled", "ours")
Z_ALPHA = stats.norm.ppf(1 - ALPHA)
BACK, PASSED, UNDECIDED, RUNNING = 1, 0, -1, -2


def delay_probabilities(mean: float) -> np.ndarray:
    """P(feedback on a prediction of interval t arrives in interval t + d), d = 0, 1, ...

    The prediction's time is uniform within its interval and the delay exponential, so
    P(arrival index <= d) = P(U + E <= d + 1), which has a closed form.
    """

    def cdf(x: np.ndarray) -> np.ndarray:
        early = x - mean * (1 - np.exp(-x / mean))
        late = 1 - mean * np.exp(-x / mean) * (np.exp(1 / mean) - 1)
        return np.where(x < 1, early, late)

    edges = np.arange(0, int(mean * 20) + 2, dtype=np.float64)
    p = np.diff(cdf(edges))
    return p / p.sum()


def fixed_horizon(p_stable: np.ndarray, share: float) -> np.ndarray:
    """Canary samples a one-sided z-test at `share` needs for ALPHA and POWER against MARGIN."""
    z = stats.norm.ppf(1 - ALPHA) + stats.norm.ppf(POWER)
    p_canary = p_stable - MARGIN
    per_sample = p_canary * (1 - p_canary) + p_stable * (1 - p_stable) * share / (1 - share)
    return np.ceil(z**2 * per_sample / MARGIN**2)


@dataclass
class Counts:
    """Correct and all feedback per track, one row per rollout."""

    cx: np.ndarray
    cn: np.ndarray
    sx: np.ndarray
    sn: np.ndarray

    @classmethod
    def zeros(cls, rows: int) -> Counts:
        return cls(*(np.zeros(rows) for _ in range(4)))

    def add(self, arrived: np.ndarray) -> None:
        """`arrived`: rows x (canary correct, canary incorrect, stable correct, stable incorrect)."""
        self.cx += arrived[:, 0]
        self.cn += arrived[:, 0] + arrived[:, 1]
        self.sx += arrived[:, 2]
        self.sn += arrived[:, 2] + arrived[:, 3]

    def reset(self, rows: np.ndarray) -> None:
        for a in (self.cx, self.cn, self.sx, self.sn):
            a[rows] = 0

    def llr(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return sequential.log_likelihood_ratio(
                canary_successes=self.cx,
                canary_trials=np.maximum(self.cn, 1),
                stable_successes=self.sx,
                stable_trials=np.maximum(self.sn, 1),
                max_drop=MARGIN,
            )

    def z_worse(self) -> np.ndarray:
        """One-sided z-test, canary worse than stable at ALPHA."""
        with np.errstate(invalid="ignore", divide="ignore"):
            pc, ps = self.cx / self.cn, self.sx / self.sn
            se = np.sqrt(pc * (1 - pc) / self.cn + ps * (1 - ps) / self.sn)
            return (
                (self.cn > 0)
                & (self.sn > 0)
                & ((pc - ps) / np.where(se > 0, se, np.inf) < -Z_ALPHA)
            )

    def enough(self) -> np.ndarray:
        return (self.cn >= MIN_SAMPLES) & (self.sn >= MIN_SAMPLES)


@dataclass
class State:
    """What a judge may look at after each interval, one row per rollout."""

    base: np.ndarray  # the stable's usual accuracy, which a threshold user would know
    horizon: np.ndarray  # canary samples of the fixed-horizon test at the current weight
    step: Counts  # this analysis step's feedback
    whole: Counts  # the rollout's feedback so far, all weights
    window: np.ndarray  # rows x WINDOW x (canary correct, canary all): the last 5 minutes
    failures: np.ndarray  # threshold judge: failed measurements in this step
    carried: np.ndarray  # ours: the earlier steps' log odds
    evidence: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ours: this step's own


Judge = Callable[[State], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""State -> (roll back, pass this step, passed undecided) masks."""


def threshold(s: State) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    wx, wn = s.window[:, :, 0].sum(axis=1), s.window[:, :, 1].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s.failures += (wn > 0) & (wx / wn < s.base - MARGIN)
    back = s.failures > FAILURE_LIMIT
    return back, ~back & (s.step.cn >= s.horizon), np.zeros_like(back)


def fixed(s: State) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    at = s.step.cn >= s.horizon
    worse = s.step.z_worse()
    return at & worse, at & ~worse, np.zeros_like(at)


def peeking(s: State) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    back = s.step.z_worse() & s.step.enough()
    return back, ~back & (s.step.cn >= s.horizon), np.zeros_like(back)


def sequential_judge(counts: Callable[[State], Counts], *, carry: bool) -> Judge:
    worse_at, not_worse_at = sequential.thresholds(1 - CONFIDENCE)

    def judge(s: State) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        own = np.where(s.step.enough(), counts(s).llr(), 0.0)
        s.evidence = own
        total = (s.carried if carry else 0.0) + own
        decided = counts(s).enough() & s.step.enough()
        back = decided & (total >= worse_at)
        passed = decided & (total <= not_worse_at)
        capped = ~back & ~passed & (s.step.cn >= CAP * s.horizon)
        return back, passed | capped, capped

    return judge


JUDGE_FUNCTIONS: dict[str, Judge] = {
    "threshold": threshold,
    "fixed": fixed,
    "peeking": peeking,
    "restarted": sequential_judge(lambda s: s.step, carry=False),
    "pooled": sequential_judge(lambda s: s.whole, carry=False),
    "ours": sequential_judge(lambda s: s.step, carry=True),
}


@dataclass
class Outcome:
    """Per rollout: BACK, PASSED or UNDECIDED (some step passed at its cap); minutes; samples."""

    decision: np.ndarray
    minutes: np.ndarray
    samples: np.ndarray  # canary feedback over the whole rollout


class InFlight:
    """Feedback on its way: the mean count arriving in each coming interval, per rollout and kind.

    Kinds: canary correct, canary incorrect, stable correct, stable incorrect.
    """

    def __init__(self, rollouts: int) -> None:
        self.delays = delay_probabilities(DELAY_MEAN)
        self.means = np.zeros((rollouts, 4, len(self.delays)))

    def send(self, predictions: np.ndarray) -> None:
        """`predictions`: rollouts x kinds, the mean feedback-bearing predictions of this interval."""
        self.means += predictions[:, :, None] * self.delays[None, None, :]

    def arrive(self, rng: np.random.Generator) -> np.ndarray:
        """This interval's arrivals (Poisson), and the clock moves on one interval."""
        arrived = rng.poisson(self.means[:, :, 0]).astype(np.float64)
        self.means = np.concatenate([self.means[:, :, 1:], np.zeros_like(self.means[:, :, :1])], 2)
        return arrived


def next_step(
    state: State, going: np.ndarray, *, step_index: np.ndarray, horizons: list[np.ndarray]
) -> None:
    """Rollouts in `going` start their next analysis step: its own counts, ours' evidence carried."""
    if state.evidence.size:
        state.carried[going] += state.evidence[going]
    state.step.reset(going)
    state.failures[going] = 0
    state.window[going] = 0
    for i, h in enumerate(horizons):
        at = going[step_index[going] == i]
        state.horizon[at] = h[at]


def simulate(
    judge: Judge, *, rng: np.random.Generator, rollouts: int, difference: float
) -> Outcome:
    """One judge over `rollouts` rollouts with the given true accuracy difference."""
    rate = rng.uniform(1, 5, rollouts) / FEEDBACK_SHARE  # requests per second
    base = rng.uniform(0.85, 0.95, rollouts)
    phase = rng.uniform(0, 2 * np.pi, rollouts)
    horizons = [fixed_horizon(base, w) for w in WEIGHTS]
    step_index = np.zeros(rollouts, dtype=int)
    state = State(
        base=base,
        horizon=horizons[0].copy(),
        step=Counts.zeros(rollouts),
        whole=Counts.zeros(rollouts),
        window=np.zeros((rollouts, WINDOW, 2)),
        failures=np.zeros(rollouts),
        carried=np.zeros(rollouts),
    )
    flight = InFlight(rollouts)
    decision = np.full(rollouts, RUNNING)
    undecided = np.zeros(rollouts, dtype=bool)
    minutes = np.zeros(rollouts)
    # Long enough for every step at the lowest feedback rate to reach its cap.
    judged = rate * INTERVAL_S * FEEDBACK_SHARE  # feedback-bearing predictions per interval
    slowest = sum(CAP * h / (judged * w) for h, w in zip(horizons, WEIGHTS, strict=True))
    limit = int(np.max(slowest)) + 50
    for t in range(limit):
        active = decision == RUNNING
        if not active.any():
            break
        share = np.array(WEIGHTS)[np.minimum(step_index, len(WEIGHTS) - 1)] * active
        stable_p = base + 0.02 * np.sin(2 * np.pi * t * INTERVAL_S / 21_600 + phase)
        canary_p = np.clip(stable_p + difference, 0, 1)
        canary, stable = judged * active * share, judged * active * (1 - share)
        flight.send(
            np.stack(
                [
                    canary * canary_p,
                    canary * (1 - canary_p),
                    stable * stable_p,
                    stable * (1 - stable_p),
                ],
                axis=1,
            )
        )
        arrived = flight.arrive(rng)
        state.step.add(arrived)
        state.whole.add(arrived)
        state.window = np.roll(state.window, -1, axis=1)
        state.window[:, -1] = np.stack([arrived[:, 0], arrived[:, 0] + arrived[:, 1]], axis=1)
        back, passed, capped = judge(state)
        back &= active
        passed &= active & ~back
        decision[back] = BACK
        minutes[back | passed] = (t + 1) * INTERVAL_S / 60
        undecided |= capped & passed
        # A passed step moves the weight on at once; passing the last one promotes.
        moving = np.flatnonzero(passed)
        step_index[moving] += 1
        done = moving[step_index[moving] >= len(WEIGHTS)]
        decision[done] = np.where(undecided[done], UNDECIDED, PASSED)
        going = moving[step_index[moving] < len(WEIGHTS)]
        next_step(state, going, step_index=step_index, horizons=horizons)
    stuck = decision == RUNNING
    decision[stuck] = UNDECIDED
    minutes[stuck] = limit * INTERVAL_S / 60
    return Outcome(decision, minutes, state.whole.cn.copy())


def run(*, rollouts: int, seed: int, chunk: int = 2000) -> dict[int, dict[str, Outcome]]:
    """Outcomes per true difference (points) and judge; same seed per judge and difference."""
    results: dict[int, dict[str, Outcome]] = {}
    for points in (0, 1, 3, 5):
        results[points] = {}
        for name in JUDGES:
            rng = np.random.default_rng([seed, 200 + points])
            parts = [
                simulate(
                    JUDGE_FUNCTIONS[name],
                    rng=rng,
                    rollouts=min(chunk, rollouts - start),
                    difference=-points / 100,
                )
                for start in range(0, rollouts, chunk)
            ]
            results[points][name] = Outcome(
                *(
                    np.concatenate([getattr(p, f) for p in parts])
                    for f in ("decision", "minutes", "samples")
                )
            )
    return results


def print_report(results: dict[int, dict[str, Outcome]], *, rollouts: int) -> bool:
    """Print the table and the targets; True when ours meets both."""
    print(
        f"\nA whole rollout: analysis at {', '.join(f'{w:.0%}' for w in WEIGHTS)}, then 100%; "
        f"{rollouts} rollouts per true change; feedback for {FEEDBACK_SHARE:.0%} of requests, "
        f"delay exponential with mean {DELAY_MEAN * INTERVAL_S:.0f} s ({DELAY_MEAN:g} intervals)"
    )
    print(
        f"{'true change':>12} {'judge':>10} {'rolled back':>12} {'promoted':>9} {'undecided':>10} "
        f"{'median canary feedback':>23} {'median min':>11}"
    )
    for points, outcomes in results.items():
        for name in JUDGES:
            o = outcomes[name]
            print(
                f"{f'-{points} pt':>12} {name:>10} {100 * np.mean(o.decision == BACK):>11.2f}% "
                f"{100 * np.mean(o.decision == PASSED):>8.2f}% "
                f"{100 * np.mean(o.decision == UNDECIDED):>9.2f}% "
                f"{np.median(o.samples):>23.0f} {np.median(o.minutes):>11.1f}"
            )
    print(
        "\nTargets over the whole rollout: false rollbacks <= 1% (no true difference), "
        ">= 95% of 3-point drops caught"
    )
    print(f"{'judge':>10} {'false rollbacks':>16} {'3-pt drops caught':>18} {'met':>4}")
    met_ours = False
    for name in JUDGES:
        false_rollbacks = float(np.mean(results[0][name].decision == BACK))
        caught = float(np.mean(results[3][name].decision == BACK))
        met = false_rollbacks <= ALPHA and caught >= POWER
        met_ours = met if name == "ours" else met_ours
        print(f"{name:>10} {false_rollbacks:>15.2%} {caught:>17.2%} {'yes' if met else 'NO':>4}")
    return met_ours


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast run with fewer rollouts")
    parser.add_argument("--rollouts", type=int, help="rollouts per true change (default 10000)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    rollouts = args.rollouts or (500 if args.quick else 10_000)
    started = time.monotonic()
    print_report(run(rollouts=rollouts, seed=args.seed), rollouts=rollouts)
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
