"""Wald's sequential probability ratio test (SPRT) for "is the canary worse than the stable?".

compare.py and latency.py call it on cumulative counts at every analysis interval; bench/judge.py
calls the same vectorised formula on thousands of simulated streams.

Why this test: the judge looks at cumulative counts every interval, and a fixed-horizon test
checked that often rolls back good canaries far beyond its nominal level. A likelihood ratio of two
simple hypotheses is a martingale under the first, so by Ville's inequality it ever reaches 1/alpha
with probability at most alpha, however often it is checked: always-valid inference from the
cumulative counts alone, no state. It is the mixture SPRT whose mixing distribution is a point mass
at the margin, the design of a sequential non-inferiority trial: "no worse" (difference 0) against
"worse by the margin" (difference -max_drop). Among all tests with the same two error rates it needs
the fewest samples on average under both (Wald-Wolfowitz), about half a fixed-horizon test's. With
alpha = 1 - confidence: a canary no worse than the stable is rolled back with probability <= alpha;
one worse by max_drop or more passes with probability <= alpha; in between either verdict may come,
and a drop of half the margin takes longest (the judge's inconclusive limit bounds the wait).
The rates are Gaussian-approximated, so the bound is approximate: the stable's rate is estimated
with one success and one failure added (no zero variance from all-correct windows), and the canary's
variance is taken halfway between the hypotheses, not from its own counts, which would shrink just
when a near-0/1 rate looks good and inflate missed regressions. tests/unit/analysis checks the
levels by simulation. The score has independent increments while the canary's share of traffic is
constant; both tracks are compared over the same period, so a data shift moving both cancels out.

Across a rollout the canary's share changes (10%, then 50%, ...), so counts are never pooled across
analysis runs: each run is a stratum with its own counts, and the log likelihood ratios of the
earlier runs of the same version are carried in and added (`carried`). A product of likelihood
ratios of successive strata is still a likelihood ratio, so Ville's bound, and with it both error
rates, hold over the whole rollout rather than once per analysis step.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelrollout.api import MeasurementPhase


class Verdict(enum.Enum):
    """The comparison's outcome for one metric."""

    WORSE = "Worse"  # roll back
    NOT_WORSE = "NotWorse"  # within the margin; the analysis may end early
    UNKNOWN = "Unknown"  # keep collecting

    @property
    def phase(self) -> MeasurementPhase:
        """The judge's measurement phase for this verdict."""
        return _PHASES[self]

    @property
    def is_decided(self) -> bool:
        return self is not Verdict.UNKNOWN


_PHASES = {
    Verdict.WORSE: MeasurementPhase.FAILED,
    Verdict.NOT_WORSE: MeasurementPhase.SUCCESSFUL,
    Verdict.UNKNOWN: MeasurementPhase.INCONCLUSIVE,
}


@dataclass(frozen=True)
class Comparison:
    """A verdict with the figures behind it; `statistic` is the log likelihood ratio."""

    verdict: Verdict
    canary_value: float  # the canary's rate (or latency quantile, seconds); nan without data
    stable_value: float
    estimate: float  # canary minus stable, in the metric's units
    statistic: float  # log odds for "worse by the margin" over "no worse", carried ones included
    worse_at: float  # statistic >= worse_at: Worse
    not_worse_at: float  # statistic <= not_worse_at: NotWorse
    canary_samples: int
    stable_samples: int
    message: str
    carried: float = 0.0  # log odds carried in from earlier strata (analysis runs), in statistic
    evidence: float = 0.0  # this stratum's own log odds; 0 while it has too few samples


def check_carried(carried: float) -> float:
    """The carried log odds as a float, after checking they are a finite number."""
    usable = isinstance(carried, int | float) and not isinstance(carried, bool)
    if not usable or not math.isfinite(carried):
        raise ValueError(
            f"carried evidence must be a finite log likelihood ratio, got {carried!r}; "
            "pass the sum of the statistics of the earlier analysis runs (0.0 for none)"
        )
    return float(carried)


def check_confidence(confidence: float) -> float:
    """The error rate alpha = 1 - confidence, after checking the confidence is usable."""
    usable = isinstance(confidence, int | float) and not isinstance(confidence, bool)
    if not usable or not 0 < confidence < 1:
        raise ValueError(
            f"confidence must be a number between 0 and 1 (exclusive), got {confidence!r}; "
            "use e.g. 0.95 (at most 5% false rollbacks) or 0.99"
        )
    return 1.0 - float(confidence)


def log_likelihood_ratio(
    *,
    canary_successes: ArrayLike,
    canary_trials: ArrayLike,
    stable_successes: ArrayLike,
    stable_trials: ArrayLike,
    max_drop: float,
    higher_is_better: bool = True,
) -> NDArray[np.float64]:
    """Log odds that the canary is worse by max_drop rather than no worse; elementwise.

    A "drop" is a change in the bad direction: lower if higher_is_better, else higher. Trials must
    be positive (callers return Unknown before any data).
    """
    xc, nc, xs, ns = (
        np.asarray(a, dtype=np.float64)
        for a in (canary_successes, canary_trials, stable_successes, stable_trials)
    )
    return np.asarray(
        _log_lr(xc, nc, xs, ns, max_drop=max_drop, higher_is_better=higher_is_better, clip=np.clip),
        dtype=np.float64,
    )


def statistic(
    *,
    canary_successes: int,
    canary_trials: int,
    stable_successes: int,
    stable_trials: int,
    max_drop: float,
    higher_is_better: bool = True,
) -> float:
    """log_likelihood_ratio for one pair of counts, in plain floats (the judge's hot path)."""
    return float(
        _log_lr(
            float(canary_successes),
            float(canary_trials),
            float(stable_successes),
            float(stable_trials),
            max_drop=max_drop,
            higher_is_better=higher_is_better,
            clip=lambda x, low, high: min(max(x, low), high),
        )
    )


def _log_lr(
    xc: Any,
    nc: Any,
    xs: Any,
    ns: Any,
    *,
    max_drop: float,
    higher_is_better: bool,
    clip: Callable[[Any, Any, Any], Any],
) -> Any:
    """The one formula behind both entry points: plain arithmetic on floats or numpy arrays."""
    ps = (xs + 1) / (ns + 2)
    # The canary's variance is taken halfway between the two hypotheses rather than from its own
    # counts: a plug-in canary variance shrinks exactly when a near-1 (or near-0) rate looks good,
    # which inflates the evidence for NotWorse and with it the missed regressions.
    pc = clip(ps - max_drop / 2 if higher_is_better else ps + max_drop / 2, 0.5 / nc, 1 - 0.5 / nc)
    variance = pc * (1 - pc) / nc + ps * (1 - ps) / ns
    change = xc / nc - xs / ns
    gain = change if higher_is_better else -change  # > 0: the canary is better
    # Gaussian log LR of mean -max_drop against mean 0 for an estimate with this variance.
    return -max_drop * (gain + max_drop / 2) / variance


def thresholds(alpha: float) -> tuple[float, float]:
    """(worse_at, not_worse_at): Ville's bound for each of the two error rates."""
    bound = math.log(1 / alpha)
    return bound, -bound


def decide(statistic: float, *, alpha: float) -> Verdict:
    worse_at, not_worse_at = thresholds(alpha)
    if statistic >= worse_at:
        return Verdict.WORSE
    if statistic <= not_worse_at:
        return Verdict.NOT_WORSE
    return Verdict.UNKNOWN


def odds(statistic: float) -> str:
    """exp(|statistic|) as 'N:1' for a message, without overflowing."""
    value = math.exp(min(abs(statistic), 700.0))
    return f"{value:.0f}:1" if value < 1e4 else f"{value:.1e}:1"


def conclusion(
    verdict: Verdict, statistic: float, *, change: str, confidence: float, carried: float = 0.0
) -> str:
    """The verdict in words with the odds behind it; `change` names the margin ("a drop of 0.030")."""
    needed = f"{confidence:.0%} confidence needs {odds(math.log(1 / (1 - confidence)))}"
    side = "for" if statistic > 0 else "against"
    evidence = f"the odds are {odds(statistic)} {side} {change} (versus none)"
    if carried:
        evidence += f", earlier analysis runs included (they gave {_signed_odds(carried)})"
    if verdict is Verdict.WORSE:
        return f"worse: {evidence}, and {needed}; roll back"
    if verdict is Verdict.NOT_WORSE:
        return f"not worse: {evidence}, and {needed}; the canary may proceed"
    return f"not yet known: {evidence}, and {needed} either way; keep collecting"


def _signed_odds(statistic: float) -> str:
    return f"{odds(statistic)} {'for' if statistic > 0 else 'against'}"
