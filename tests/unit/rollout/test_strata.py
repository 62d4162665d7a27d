"""Whole rollouts at 10% then 50%: the comparison's evidence goes on across weights, counts do not.

The toy world answers the k-th round of an analysis run with k times the feedback counts of the
weight it runs at (counts grow within a run and start again with the next), judged by the real
compare_proportions with the evidence the status carries in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from modelrollout import api, rollout
from modelrollout.analysis import compare, judge
from tests.unit.rollout.world import T0, World, healthy, make_spec, run

pytestmark = pytest.mark.unit
Phase = api.Phase

STEPS = [{"setWeight": 10}, {"analysis": {}}, {"setWeight": 50}, {"analysis": {}}]
ANALYSIS = {
    "prometheus": {"address": "http://prometheus:9090"},
    "interval": "30s",
    "count": 2,
    "inconclusiveLimit": 1,
    "metrics": [{"name": "accuracy", "compare": {"maxDrop": 0.03, "confidence": 0.95}}],
}
Counts = tuple[tuple[int, int], tuple[int, int]]  # (canary, stable) as (correct, all feedback)
# Own log odds of one round's counts (k rounds: about k times as much), for a 3-point margin at
# 95%, where a verdict needs +-3.0:
CLEARLY_FINE: Counts = ((910, 1000), (8190, 9000))  # -4.4: not worse
LEANS_FINE: Counts = ((900, 1000), (8190, 9000))  # -1.5
LEANS_WORSE: Counts = ((890, 1000), (8190, 9000))  # +1.5
CLEARLY_WORSE: Counts = ((880, 1000), (8190, 9000))  # +4.4: worse
MUCH_WORSE: Counts = ((820, 1000), (8190, 9000))  # +21.8: 9 points down


@dataclass
class Feedback(World):
    """A world whose feedback counts depend on the canary weight of the run being measured."""

    at_weight: Mapping[int, Counts] = field(default_factory=dict)
    status: api.ModelDeploymentStatus | None = None

    def observe(
        self, spec: api.ModelDeploymentSpec, status: api.ModelDeploymentStatus, now: datetime
    ) -> rollout.Observation:
        self.status = status
        self.measure = self._round
        return super().observe(spec, status, now)

    def _round(self, now: datetime) -> list[api.Measurement]:
        assert self.status is not None
        assert self.status.analysis is not None
        canary, stable = self.at_weight[self.status.canary_weight]
        k = self.status.analysis.rounds + 1
        result = compare.compare_proportions(
            canary=compare.ProportionCounts(k * canary[0], k * canary[1]),
            stable=compare.ProportionCounts(k * stable[0], k * stable[1]),
            max_drop=0.03,
            confidence=0.95,
            carried=self.status.analysis.carried_evidence.get("accuracy", 0.0),
        )
        return [
            judge.from_verdict(
                metric="accuracy",
                verdict=result.verdict,
                value=result.canary_value,
                message=result.message,
                now=now,
                evidence=result.evidence,
            )
        ]


def at_second_step(status: api.ModelDeploymentStatus) -> bool:
    return status.analysis is not None and status.analysis.step == 3


@pytest.mark.parametrize(
    ("at_10", "at_50", "outcome"),
    [
        pytest.param(CLEARLY_FINE, CLEARLY_FINE, Phase.HEALTHY, id="fine at both weights"),
        pytest.param(CLEARLY_FINE, MUCH_WORSE, Phase.ROLLED_BACK, id="much worse at 50 only"),
        pytest.param(CLEARLY_WORSE, CLEARLY_FINE, Phase.ROLLED_BACK, id="worse at 10"),
        # Decided at 10%, the test goes on at 50% from there: a lean that alone would halt
        # (inconclusive) does not undo it; the stated error rates are the whole rollout's.
        pytest.param(CLEARLY_FINE, LEANS_WORSE, Phase.HEALTHY, id="a lean at 50 after a pass"),
        pytest.param(CLEARLY_FINE, LEANS_FINE, Phase.HEALTHY, id="more of the same at 50"),
    ],
)
def test_a_rollout_at_two_weights_is_judged_on_the_evidence_of_both(
    at_10: Counts, at_50: Counts, outcome: Phase
) -> None:
    world = Feedback(stable="1", at_weight={10: at_10, 50: at_50})
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, _ = run(spec, healthy("1"), world)
    assert status.phase is outcome


def test_the_second_weights_run_starts_from_the_first_runs_evidence_not_its_counts() -> None:
    world = Feedback(stable="1", at_weight={10: CLEARLY_FINE, 50: LEANS_WORSE})
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, _ = run(spec, healthy("1"), world, until=at_second_step)
    assert status.analysis is not None
    assert status.analysis.runs == 2
    (xc, nc), (xs, ns) = CLEARLY_FINE
    first = compare.compare_proportions(  # the first run's second (and last) round
        canary=compare.ProportionCounts(2 * xc, 2 * nc),
        stable=compare.ProportionCounts(2 * xs, 2 * ns),
        max_drop=0.03,
        confidence=0.95,
    )
    assert status.analysis.carried_evidence == {"accuracy": pytest.approx(first.statistic)}
    assert status.analysis.evidence == {}  # this run's own counts start at its own start
    assert status.analysis.started_at is not None
    assert status.analysis.started_at > T0


def test_a_skipped_undecided_analysis_still_counts_at_the_next_weight() -> None:
    # At 10% the canary leans worse and the analysis halts; a person promotes past it. At 50%
    # the same lean completes the evidence: rolled back, where judging 50% alone would halt again.
    world = Feedback(stable="1", at_weight={10: LEANS_WORSE, 50: LEANS_WORSE})
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, now = run(spec, healthy("1"), world, until=lambda s: s.phase is Phase.PAUSED)
    assert status.pause_reason == api.Reason.ANALYSIS_INCONCLUSIVE
    world.requests = [rollout.ManualRequest(rollout.Request.PROMOTE, "p1")]
    final, _ = run(spec, status, world, now=now)
    assert final.phase is Phase.ROLLED_BACK
    assert final.canary_weight == 0
    assert final.analysis is not None
    assert final.analysis.step == 3


def test_a_retry_after_a_halt_adds_the_new_runs_evidence_to_the_old() -> None:
    world = Feedback(stable="1", at_weight={10: LEANS_WORSE})
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, now = run(spec, healthy("1"), world, until=lambda s: s.phase is Phase.PAUSED)
    world.requests = [rollout.ManualRequest(rollout.Request.RETRY, "r1")]
    final, _ = run(spec, status, world, now=now)
    assert final.phase is Phase.ROLLED_BACK
    assert final.analysis is not None
    assert final.analysis.runs == 2


def test_a_new_version_starts_its_test_from_nothing() -> None:
    world = Feedback(stable="1", at_weight={10: LEANS_WORSE})
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, now = run(spec, healthy("1"), world, until=lambda s: s.phase is Phase.PAUSED)
    assert status.analysis is not None
    assert status.analysis.evidence
    world.at_weight = {10: CLEARLY_FINE, 50: CLEARLY_FINE}
    newer, _ = run(make_spec("3", rollout={"steps": STEPS}, analysis=ANALYSIS), status, world,
                   now=now, until=lambda s: s.analysis is not None)  # fmt: skip
    assert newer.canary_version == "3"
    assert newer.analysis is not None
    assert newer.analysis.carried_evidence == {}
