"""The judge counts rounds against the limits; no data halts without passing or failing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout.analysis import judge
from modelrollout.analysis.sequential import Verdict
from modelrollout.api import AnalysisPhase, AnalysisStatus, MeasurementPhase, MetricSpec

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S, F, I, E = "Successful", "Failed", "Inconclusive", "Error"  # noqa: E741
LIMITS = judge.Limits(count=3, failure_limit=0, inconclusive_limit=2, consecutive_error_limit=1)


def measure(phase: str, n: int = 0, metric: str = "accuracy") -> judge.Measurement:
    return judge.Measurement(
        metric=metric,
        phase=MeasurementPhase(phase),
        value=0.9,
        measured_at=T0 + timedelta(seconds=30 * n),
    )


def run_rounds(rounds: list[str], limits: judge.Limits = LIMITS) -> AnalysisStatus:
    run = AnalysisStatus()
    for n, phase in enumerate(rounds):
        run = judge.judge_round(run=run, measurements=[measure(phase, n)], limits=limits)
    return run


@pytest.mark.parametrize(
    ("rounds", "expected"),
    [
        ([S, S, S], AnalysisPhase.SUCCESSFUL),
        ([S, S], AnalysisPhase.RUNNING),
        ([F], AnalysisPhase.FAILED),
        ([S, S, F], AnalysisPhase.FAILED),
        ([I, I], AnalysisPhase.RUNNING),
        ([I, I, I], AnalysisPhase.INCONCLUSIVE),
        ([I, S, I, S, S], AnalysisPhase.SUCCESSFUL),
        ([E], AnalysisPhase.RUNNING),
        ([E, E], AnalysisPhase.FAILED),
        ([E, S, E, S, E], AnalysisPhase.RUNNING),
        ([E, S, E, S, S], AnalysisPhase.SUCCESSFUL),
        ([S, S, S, F], AnalysisPhase.SUCCESSFUL),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, list) else str(v),
)
def test_rounds_are_judged_against_the_limits(rounds: list[str], expected: AnalysisPhase) -> None:
    assert run_rounds(rounds).phase is expected


def test_no_data_halts_without_failing_or_passing() -> None:
    run = run_rounds([I] * 10, judge.Limits(count=1, failure_limit=0, inconclusive_limit=100,
                                            consecutive_error_limit=0))  # fmt: skip
    assert run.phase is AnalysisPhase.RUNNING
    assert run.successful == 0
    assert run.failed == 0


def test_a_round_is_as_bad_as_its_worst_measurement() -> None:
    assert judge.round_phase([measure(S), measure(I), measure(E)]) is MeasurementPhase.ERROR
    assert judge.round_phase([measure(E), measure(F)]) is MeasurementPhase.FAILED
    assert judge.round_phase([measure(S), measure(I)]) is MeasurementPhase.INCONCLUSIVE


def test_an_empty_round_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match=r"spec\.analysis\.metrics"):
        judge.round_phase([])


def test_the_message_says_why_and_names_each_metric() -> None:
    run = run_rounds([F])
    assert "failureLimit 0" in run.message
    assert "accuracy=0.9 Failed" in run.message


@pytest.mark.parametrize(
    ("value", "phase", "words"),
    [
        (None, MeasurementPhase.INCONCLUSIVE, "no data"),
        (float("nan"), MeasurementPhase.INCONCLUSIVE, "no data"),
        (0.95, MeasurementPhase.SUCCESSFUL, ""),
        (0.85, MeasurementPhase.FAILED, "below min 0.9"),
        (1.5, MeasurementPhase.FAILED, "above max 1"),
    ],
)
def test_bounds_checks_turn_values_into_measurements(
    value: float | None, phase: MeasurementPhase, words: str
) -> None:
    metric = MetricSpec(name="accuracy", min=0.9, max=1.0)
    result = judge.check_bounds(metric=metric, value=value, now=T0)
    assert result.phase is phase
    assert words in result.message


@pytest.mark.parametrize(
    ("verdict", "phase"),
    [(Verdict.WORSE, F), (Verdict.NOT_WORSE, S), (Verdict.UNKNOWN, I)],
)
def test_comparison_verdicts_map_to_measurement_phases(verdict: Verdict, phase: str) -> None:
    got = judge.from_verdict(metric="accuracy", verdict=verdict, value=0.01, message="", now=T0)
    assert got.phase is MeasurementPhase(phase)


phases = st.sampled_from([S, F, I, E])
limits = st.builds(
    judge.Limits,
    count=st.integers(1, 5),
    failure_limit=st.integers(0, 3),
    inconclusive_limit=st.integers(0, 3),
    consecutive_error_limit=st.integers(0, 3),
)


@given(rounds=st.lists(phases, max_size=20), lim=limits)
def test_a_run_never_passes_without_count_successes_nor_fails_within_the_limits(
    rounds: list[str], lim: judge.Limits
) -> None:
    run = run_rounds(rounds, lim)
    if run.phase is AnalysisPhase.SUCCESSFUL:
        assert run.successful >= lim.count
        assert run.failed <= lim.failure_limit
    if run.phase is AnalysisPhase.FAILED:
        assert (
            run.failed > lim.failure_limit or run.consecutive_errors > lim.consecutive_error_limit
        )
    if run.phase is AnalysisPhase.RUNNING:
        assert run.rounds == len(rounds)


@given(rounds=st.lists(st.sampled_from([I]), max_size=20), lim=limits)
def test_only_inconclusive_rounds_never_pass_or_fail(rounds: list[str], lim: judge.Limits) -> None:
    assert run_rounds(rounds, lim).phase in {AnalysisPhase.RUNNING, AnalysisPhase.INCONCLUSIVE}


@given(rounds=st.lists(phases, max_size=12), lim=limits)
def test_judging_is_a_function_of_its_inputs(rounds: list[str], lim: judge.Limits) -> None:
    assert run_rounds(rounds, lim) == run_rounds(rounds, lim)
