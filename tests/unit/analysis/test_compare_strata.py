"""The sequential test across canary weights: each analysis run is a stratum, log odds add up.

Counts are never pooled across weights; the earlier runs' statistics are carried in and added, and
a stratum without enough samples of its own decides nothing, whatever was carried.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from modelrollout.analysis import compare, judge, sequential
from modelrollout.analysis.compare import ProportionCounts, Verdict
from modelrollout.api import AnalysisPhase, AnalysisStatus, Measurement, MeasurementPhase
from tests.unit.analysis.test_compare_latency import lognormal_histogram

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONFIDENCE = 0.95
BOUND = math.log(1 / (1 - CONFIDENCE))  # about 3.0: the log odds either verdict needs


def judged(carried: float, canary: tuple[int, int], stable: tuple[int, int]) -> compare.Comparison:
    return compare.compare_proportions(
        canary=ProportionCounts(*canary),
        stable=ProportionCounts(*stable),
        max_drop=0.03,
        confidence=CONFIDENCE,
        carried=carried,
    )


# A 1.5-point drop at this size is about even evidence on its own (|statistic| < 0.5).
EVEN = ((9350, 10000), (85500, 90000))
# Leaning to "worse" (about +1.5, a drop of 2 points) but not decided alone.
LEANING_WORSE = ((890, 1000), (8190, 9000))
# Leaning to "no worse" (about -1.5, a drop of 1 point) but not decided alone.
LEANING_FINE = ((900, 1000), (8190, 9000))


@pytest.mark.parametrize(
    ("carried", "counts", "expected"),
    [
        pytest.param(0.0, LEANING_WORSE, Verdict.UNKNOWN, id="alone, a lean is not a verdict"),
        pytest.param(2.0, LEANING_WORSE, Verdict.WORSE, id="an earlier lean to worse completes it"),
        pytest.param(-2.0, LEANING_WORSE, Verdict.UNKNOWN, id="earlier evidence against cancels"),
        pytest.param(0.0, LEANING_FINE, Verdict.UNKNOWN, id="alone, a lean to fine is not a pass"),
        pytest.param(-2.0, LEANING_FINE, Verdict.NOT_WORSE, id="an earlier lean to fine passes"),
        pytest.param(-20.0, EVEN, Verdict.NOT_WORSE, id="a decided earlier run carries on"),
        pytest.param(20.0, EVEN, Verdict.WORSE, id="a worse earlier run is not forgotten"),
        pytest.param(-20.0, ((20, 20), (400, 400)), Verdict.UNKNOWN, id="too few samples halt"),
        pytest.param(20.0, ((0, 0), (9000, 9500)), Verdict.UNKNOWN, id="no canary data halts"),
    ],
)
def test_the_verdict_is_on_the_carried_and_this_runs_evidence_together(
    carried: float, counts: tuple[tuple[int, int], tuple[int, int]], expected: Verdict
) -> None:
    result = judged(carried, *counts)
    assert result.verdict is expected
    assert result.carried == carried
    assert result.statistic == pytest.approx(carried + result.evidence)


@pytest.mark.parametrize("carried", [-20.0, -2.0, 0.0, 2.0, 20.0])
def test_this_runs_own_evidence_does_not_depend_on_what_was_carried(carried: float) -> None:
    # What the next run carries is the sum of the strata's own statistics, never a pooled count.
    alone = judged(0.0, *LEANING_WORSE)
    assert judged(carried, *LEANING_WORSE).evidence == alone.evidence == alone.statistic
    assert 0.5 < alone.statistic < BOUND


def test_a_stratum_without_enough_samples_carries_no_evidence_of_its_own() -> None:
    result = judged(-7.0, (20, 20), (400, 400))
    assert result.evidence == 0.0
    assert result.statistic == -7.0


def test_the_message_says_earlier_runs_are_included() -> None:
    assert "earlier analysis runs included" in judged(2.0, *LEANING_WORSE).message
    assert "earlier analysis runs" not in judged(0.0, *LEANING_WORSE).message


@pytest.mark.parametrize("carried", [math.nan, math.inf, -math.inf, True, "1"])
def test_unusable_carried_evidence_is_rejected_with_what_to_pass(carried: object) -> None:
    with pytest.raises(ValueError, match="carried evidence must be a finite log likelihood ratio"):
        judged(carried, *LEANING_WORSE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("carried", "expected"),
    [(0.0, Verdict.UNKNOWN), (2.5, Verdict.WORSE), (-2.5, Verdict.UNKNOWN)],
)
def test_latency_carries_evidence_across_runs_the_same_way(
    carried: float, expected: Verdict
) -> None:
    # A 20% slowdown on few requests leans to "30% slower" without deciding on its own.
    stable = lognormal_histogram(9_000, median=0.04)
    canary = lognormal_histogram(300, median=0.04, slower=0.2)
    result = compare.compare_latency(
        canary=canary,
        stable=stable,
        confidence=CONFIDENCE,
        max_increase_ratio=0.3,
        carried=carried,
    )
    assert 0 < result.evidence < BOUND
    assert result.verdict is expected
    assert result.statistic == pytest.approx(carried + result.evidence)


def measurement(evidence: float | None, phase: str = "Inconclusive") -> Measurement:
    return Measurement(
        metric="accuracy", phase=MeasurementPhase(phase), measured_at=T0, evidence=evidence
    )


LIMITS = judge.Limits(count=3, failure_limit=0, inconclusive_limit=9, consecutive_error_limit=9)


@pytest.mark.parametrize(
    ("rounds", "run_evidence"),
    [
        pytest.param([1.0], {"accuracy": 1.0}, id="a round's evidence is the run's"),
        pytest.param([1.0, 2.5], {"accuracy": 2.5}, id="the latest round replaces it (cumulative)"),
        pytest.param([1.0, None], {"accuracy": 1.0}, id="an error round keeps it"),
        pytest.param([None], {}, id="a bounds-only metric has none"),
    ],
)
def test_a_run_keeps_the_latest_evidence_of_each_metric(
    rounds: list[float | None], run_evidence: dict[str, float]
) -> None:
    run = AnalysisStatus(carried_evidence={"accuracy": -1.0})
    for evidence in rounds:
        phase = "Error" if evidence is None else "Inconclusive"
        run = judge.judge_round(run=run, measurements=[measurement(evidence, phase)], limits=LIMITS)
    assert run.evidence == run_evidence
    assert run.carried_evidence == {"accuracy": -1.0}


@pytest.mark.parametrize(
    ("run", "carried"),
    [
        pytest.param(None, {}, id="the first run of a version starts from nothing"),
        pytest.param(
            AnalysisStatus(phase=AnalysisPhase.SUCCESSFUL, evidence={"accuracy": -4.0}),
            {"accuracy": -4.0},
            id="a passed run carries its evidence",
        ),
        pytest.param(
            AnalysisStatus(
                phase=AnalysisPhase.INCONCLUSIVE,
                evidence={"accuracy": 1.0, "latency_p99_ms": -0.5},
                carried_evidence={"accuracy": -4.0, "error_rate": -3.0},
            ),
            {"accuracy": -3.0, "error_rate": -3.0, "latency_p99_ms": -0.5},
            id="an inconclusive run adds its own to what it carried",
        ),
        pytest.param(
            AnalysisStatus(phase=AnalysisPhase.FAILED, evidence={"accuracy": 5.0}),
            {},
            id="a failed run, retried, is judged afresh",
        ),
    ],
)
def test_the_next_run_carries_the_log_odds_of_the_runs_before_it(
    run: AnalysisStatus | None, carried: dict[str, float]
) -> None:
    assert judge.carry_over(run) == carried


def test_strata_at_different_weights_keep_the_false_rollback_rate_pooled_counts_do_not() -> None:
    # A rollout at 10% then 50% whose base accuracy moves between the two steps (a data shift
    # both tracks see): pooling the counts mixes the weights (Simpson's paradox) and rolls back an
    # equal canary; adding the strata's log odds does not.
    rng = np.random.default_rng(14)
    rollouts, alpha = 4000, 1 - CONFIDENCE
    steps = [(0.1, 0.95, 3000), (0.5, 0.85, 3000)]  # canary share, accuracy, feedback per step
    pooled = [np.zeros(rollouts) for _ in range(4)]
    carried = np.zeros(rollouts)
    stratified_back = np.zeros(rollouts, dtype=bool)
    pooled_back = np.zeros(rollouts, dtype=bool)
    for share, accuracy, feedback in steps:
        counts = []
        for n in (round(feedback * share), round(feedback * (1 - share))):
            counts += [rng.binomial(n, accuracy, rollouts).astype(float), np.full(rollouts, n)]
        evidence = sequential.log_likelihood_ratio(
            canary_successes=counts[0],
            canary_trials=counts[1],
            stable_successes=counts[2],
            stable_trials=counts[3],
            max_drop=0.03,
        )
        stratified_back |= carried + evidence >= BOUND
        carried += evidence
        pooled = [p + c for p, c in zip(pooled, counts, strict=True)]
        together = sequential.log_likelihood_ratio(
            canary_successes=pooled[0],
            canary_trials=pooled[1],
            stable_successes=pooled[2],
            stable_trials=pooled[3],
            max_drop=0.03,
        )
        pooled_back |= together >= BOUND
    assert stratified_back.mean() <= alpha
    assert pooled_back.mean() > 4 * alpha
