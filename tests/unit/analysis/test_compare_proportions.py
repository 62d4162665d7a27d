"""Known cases and input validation for the canary-versus-stable comparison of proportions."""

from __future__ import annotations

import math

import pytest

from modelrollout.analysis import compare, sequential
from modelrollout.analysis.compare import ProportionCounts, Verdict

pytestmark = pytest.mark.unit


def judge(
    canary: tuple[int, int],
    stable: tuple[int, int],
    *,
    max_drop: float = 0.03,
    confidence: float = 0.95,
    higher_is_better: bool = True,
) -> compare.Comparison:
    return compare.compare_proportions(
        canary=ProportionCounts(*canary),
        stable=ProportionCounts(*stable),
        max_drop=max_drop,
        confidence=confidence,
        higher_is_better=higher_is_better,
    )


@pytest.mark.parametrize(
    ("canary", "stable", "expected"),
    [
        pytest.param((840, 1000), (8550, 9000), Verdict.WORSE, id="clear drop of 11 points"),
        pytest.param((912, 1000), (8559, 9000), Verdict.WORSE, id="drop of 4 points"),
        pytest.param((951, 1000), (8559, 9000), Verdict.NOT_WORSE, id="same accuracy"),
        pytest.param((990, 1000), (8559, 9000), Verdict.NOT_WORSE, id="canary better"),
        pytest.param((45, 50), (420, 450), Verdict.UNKNOWN, id="too few samples to tell"),
        pytest.param((0, 0), (8559, 9000), Verdict.UNKNOWN, id="no canary feedback yet"),
        pytest.param((20, 20), (400, 400), Verdict.UNKNOWN, id="below the minimum sample count"),
    ],
)
def test_known_cases_get_the_expected_verdict(
    canary: tuple[int, int], stable: tuple[int, int], expected: Verdict
) -> None:
    assert judge(canary, stable).verdict is expected


def test_a_drop_of_half_the_margin_is_undecided_at_moderate_samples() -> None:
    # 1.5 points is exactly between "no drop" and "a drop of 3 points": the evidence is even.
    result = judge((9350, 10000), (85500, 90000))
    assert result.verdict is Verdict.UNKNOWN
    assert abs(result.statistic) < 0.5


def test_the_verdict_flips_at_the_middle_of_the_margin_with_plenty_of_samples() -> None:
    stable = (900_000, 1_000_000)
    assert judge((88_400, 100_000), stable).verdict is Verdict.WORSE  # 1.6 points down
    assert judge((88_600, 100_000), stable).verdict is Verdict.NOT_WORSE  # 1.4 points down


def test_the_statistic_crosses_the_threshold_exactly_where_the_verdict_changes() -> None:
    stable = (85500, 90000)
    verdicts = {}
    for correct in range(900, 960):
        result = judge((correct, 1000), stable)
        decided_worse = result.statistic >= result.worse_at
        assert (result.verdict is Verdict.WORSE) == decided_worse
        verdicts[correct] = result.verdict
    # More correct canary answers can only move the verdict from Worse towards NotWorse.
    order = [Verdict.WORSE, Verdict.UNKNOWN, Verdict.NOT_WORSE]
    ranks = [order.index(verdicts[c]) for c in sorted(verdicts)]
    assert ranks == sorted(ranks)
    assert ranks[0] == 0
    assert ranks[-1] == 2


def test_higher_confidence_needs_more_evidence() -> None:
    canary, stable = (925, 1000), (8550, 9000)
    assert judge(canary, stable, confidence=0.9).verdict is Verdict.WORSE
    assert judge(canary, stable, confidence=0.999).verdict is Verdict.UNKNOWN


def test_the_same_drop_is_worse_under_a_small_margin_and_not_worse_under_a_large_one() -> None:
    canary, stable = (9350, 10000), (85500, 90000)  # 1.5 points down
    assert judge(canary, stable, max_drop=0.02).verdict is Verdict.WORSE
    assert judge(canary, stable, max_drop=0.05).verdict is Verdict.NOT_WORSE


def test_error_rates_are_worse_when_they_rise() -> None:
    stable = (90, 9000)  # 1% errors
    rising = judge((40, 1000), stable, max_drop=0.01, higher_is_better=False)
    steady = judge((9, 1000), stable, max_drop=0.01, higher_is_better=False)
    assert rising.verdict is Verdict.WORSE
    assert steady.verdict is Verdict.NOT_WORSE
    assert "error rate" in rising.message
    assert "a rise of 0.010" in rising.message


def test_the_comparison_reports_the_figures_behind_the_verdict() -> None:
    result = judge((912, 1000), (8559, 9000))
    assert result.canary_value == pytest.approx(0.912)
    assert result.stable_value == pytest.approx(0.951)
    assert result.estimate == pytest.approx(0.912 - 0.951)
    assert (result.canary_samples, result.stable_samples) == (1000, 9000)
    assert result.worse_at == pytest.approx(math.log(20))
    assert result.not_worse_at == pytest.approx(-math.log(20))
    assert result.statistic > result.worse_at
    assert result.message.startswith("canary success rate 0.912 vs stable 0.951 over 1000/9000")
    assert "worse: the odds are" in result.message
    assert "for a drop of 0.030" in result.message
    assert "roll back" in result.message


def test_an_undecided_comparison_says_what_is_missing() -> None:
    result = judge((5, 6), (40, 54))
    assert result.verdict is Verdict.UNKNOWN
    assert "the canary has 6 samples" in result.message
    assert "at least 30" in result.message
    assert "keep collecting" in result.message


def test_the_name_appears_in_the_message() -> None:
    result = compare.compare_proportions(
        canary=ProportionCounts(950, 1000),
        stable=ProportionCounts(8550, 9000),
        max_drop=0.03,
        confidence=0.95,
        name="accuracy",
    )
    assert result.message.startswith("canary accuracy 0.950 vs stable 0.950")
    assert "the canary may proceed" in result.message


@pytest.mark.parametrize(
    ("verdict", "phase"),
    [
        (Verdict.WORSE, "Failed"),
        (Verdict.NOT_WORSE, "Successful"),
        (Verdict.UNKNOWN, "Inconclusive"),
    ],
)
def test_verdicts_map_to_the_judges_measurement_phases(verdict: Verdict, phase: str) -> None:
    assert verdict.phase == phase
    assert verdict.is_decided is (verdict is not Verdict.UNKNOWN)


@pytest.mark.parametrize(
    ("successes", "trials", "needle"),
    [
        (-1, 10, "successes must be a non-negative integer"),
        (1, -10, "trials must be a non-negative integer"),
        (11, 10, "11 successes out of only 10 trials"),
        (0.5, 10, "not rates"),
        (True, 10, "non-negative integer"),
    ],
)
def test_bad_counts_are_refused_with_the_reason(successes: int, trials: int, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        ProportionCounts(successes, trials)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.2, math.nan, True, "0.95"])
def test_a_confidence_outside_zero_to_one_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence must be a number between 0 and 1"):
        judge((900, 1000), (8100, 9000), confidence=confidence)


@pytest.mark.parametrize("max_drop", [0, -0.01, 1, 2, math.nan])
def test_a_margin_that_is_not_a_proportion_is_refused(max_drop: float) -> None:
    with pytest.raises(ValueError, match="max_drop must be a proportion"):
        judge((900, 1000), (8100, 9000), max_drop=max_drop)


def test_counts_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(TypeError, match="canary must be ProportionCounts, got tuple"):
        compare.compare_proportions(
            canary=(900, 1000),  # type: ignore[arg-type]
            stable=ProportionCounts(8100, 9000),
            max_drop=0.03,
            confidence=0.95,
        )


def test_the_vectorised_statistic_matches_the_scalar_comparison() -> None:
    result = judge((912, 1000), (8559, 9000))
    vector = sequential.log_likelihood_ratio(
        canary_successes=[912, 951],
        canary_trials=[1000, 1000],
        stable_successes=[8559, 8559],
        stable_trials=[9000, 9000],
        max_drop=0.03,
    )
    assert vector[0] == pytest.approx(result.statistic)
    assert vector[1] == pytest.approx(judge((951, 1000), (8559, 9000)).statistic)
