"""Whole rollouts driven through a toy cluster: each path issue 4 names, end to end."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelrollout import api, rollout
from modelrollout.analysis import judge
from tests.unit.rollout.world import ANALYSIS, T0, VALIDATION, World, healthy, make_spec, run

pytestmark = pytest.mark.unit
Phase = api.Phase
STEPS = [{"setWeight": 10}, {"pause": {"duration": "60s"}}, {"analysis": {}}, {"setWeight": 50}]


def failing(now: object) -> list[api.Measurement]:
    metric = api.MetricSpec(name="accuracy", min=0.9)
    return [judge.check_bounds(metric=metric, value=0.5, now=now)]  # type: ignore[arg-type]


def no_data(now: object) -> list[api.Measurement]:
    metric = api.MetricSpec(name="accuracy", min=0.9)
    return [judge.check_bounds(metric=metric, value=None, now=now)]  # type: ignore[arg-type]


def weights(world: World) -> list[int]:
    return [a.weight for d in world.log for a in d.actions if isinstance(a, rollout.SetWeight)]


def test_a_first_deployment_is_validated_then_becomes_the_stable_version() -> None:
    world = World()
    spec = make_spec("1", validation=VALIDATION, rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, _ = run(spec, api.ModelDeploymentStatus(), world)
    assert status.phase is Phase.HEALTHY
    assert status.stable_version == "1"
    assert status.canary_version is None
    assert world.stable == "1"
    assert world.canary is None
    assert [h.outcome for h in status.history] == [api.Outcome.PROMOTED]


def test_a_new_version_is_validated_stepped_analysed_and_promoted() -> None:
    world = World(stable="1")
    spec = make_spec("2", validation=VALIDATION, rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, now = run(spec, healthy("1"), world)
    assert status.phase is Phase.HEALTHY
    assert status.stable_version == "2"
    assert world.stable == "2"
    moved = [w for w in weights(world) if w]
    assert moved[0] == 10
    assert 50 in moved
    assert 100 in moved
    assert now - T0 >= timedelta(seconds=60)  # the timed pause really waited
    assert status.history[-1].outcome is api.Outcome.PROMOTED
    # the leftovers go: the canary Deployment and the validation Job
    status, _ = run(spec, status, world, turns=3, until=lambda s: False)
    assert world.canary is None
    assert world.jobs == set()


def test_a_failed_validation_never_gives_the_canary_traffic() -> None:
    world = World(stable="1", validation="failed")
    spec = make_spec("2", validation=VALIDATION, rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, _ = run(spec, healthy("1"), world)
    assert status.phase is Phase.FAILED
    assert set(weights(world)) == {0}
    assert world.canary is None
    assert status.stable_version == "1"
    assert status.history[-1].reason == api.Reason.VALIDATION_FAILED


def test_a_validation_that_never_finishes_fails_at_its_timeout() -> None:
    world = World(stable="1", validation="running")
    spec = make_spec("2", validation=VALIDATION)
    status, now = run(spec, healthy("1"), world)
    assert status.phase is Phase.FAILED
    assert status.history[-1].reason == api.Reason.VALIDATION_TIMED_OUT
    assert now - T0 >= timedelta(minutes=5)
    assert world.jobs == set()


def test_a_failed_analysis_rolls_back_to_the_stable_at_full_weight() -> None:
    world = World(stable="1", measure=failing)
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, _ = run(spec, healthy("1"), world)
    assert status.phase is Phase.ROLLED_BACK
    assert status.stable_version == "1"
    assert world.stable == "1"
    assert world.weight == 0
    assert status.history[-1].outcome is api.Outcome.ROLLED_BACK
    assert status.history[-1].reason == api.Reason.ANALYSIS_FAILED


def test_a_failed_canary_is_deleted_only_after_the_scale_down_delay() -> None:
    world = World(stable="1", measure=failing)
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS,
                     rollback={"scaleDownDelay": "5m"})  # fmt: skip
    status, now = run(spec, healthy("1"), world)
    assert world.canary == "2"
    status, _ = run(spec, status, world, now=now + timedelta(minutes=2), turns=1)
    assert world.canary == "2"
    status, _ = run(spec, status, world, now=now + timedelta(minutes=5), turns=1)
    assert world.canary is None


def test_a_failed_canary_can_be_kept_for_inspection() -> None:
    world = World(stable="1", measure=failing)
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS,
                     rollback={"scaleDownFailed": False})  # fmt: skip
    status, now = run(spec, healthy("1"), world)
    run(spec, status, world, now=now + timedelta(hours=1), turns=3, until=lambda s: False)
    assert world.canary == "2"
    assert world.weight == 0


def test_a_failed_analysis_without_automatic_rollback_waits_for_a_person() -> None:
    world = World(stable="1", measure=failing)
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS,
                     rollback={"automatic": False})  # fmt: skip
    status, now = run(spec, healthy("1"), world, until=lambda s: s.phase is Phase.PAUSED)
    assert status.pause_reason == api.Reason.AWAITING_ROLLBACK
    assert status.canary_weight == 10
    # nothing moves on its own, however long it waits
    later, _ = run(spec, status, world, now=now + timedelta(hours=5), turns=5,
                   until=lambda s: False)  # fmt: skip
    assert later.phase is Phase.PAUSED
    assert later.canary_weight == 10
    world.requests = [rollout.ManualRequest(rollout.Request.ABORT, "t1")]
    final, _ = run(spec, later, world, now=now + timedelta(hours=6))
    assert final.phase is Phase.ROLLED_BACK
    assert world.weight == 0


def test_no_data_halts_the_rollout_without_promoting_or_rolling_back() -> None:
    world = World(stable="1", measure=no_data)
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, _ = run(spec, healthy("1"), world, until=lambda s: s.phase is Phase.PAUSED)
    assert status.phase is Phase.PAUSED
    assert status.pause_reason == api.Reason.ANALYSIS_INCONCLUSIVE
    assert status.stable_version == "1"
    assert status.canary_weight == 10
    assert not any(h.outcome is api.Outcome.ROLLED_BACK for h in status.history)


def test_an_inconclusive_analysis_can_be_retried_and_then_passes() -> None:
    world = World(stable="1", measure=no_data)
    spec = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, now = run(spec, healthy("1"), world, until=lambda s: s.phase is Phase.PAUSED)
    world.measure = World().measure
    world.requests = [rollout.ManualRequest(rollout.Request.RETRY, "r1")]
    final, _ = run(spec, status, world, now=now)
    assert final.phase is Phase.HEALTHY
    assert final.stable_version == "2"
    assert final.analysis is not None
    assert final.analysis.runs == 2


def test_a_pause_without_duration_waits_for_a_promote_request() -> None:
    world = World(stable="1")
    spec = make_spec("2", rollout={"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}]})
    status, now = run(spec, healthy("1"), world, until=lambda s: s.phase is Phase.PAUSED)
    assert status.pause_reason == api.Reason.MANUAL_PAUSE
    assert "kubectl model-rollout promote iris" in status.message
    waited, _ = run(spec, status, world, now=now + timedelta(days=1), turns=5,
                    until=lambda s: False)  # fmt: skip
    assert waited.phase is Phase.PAUSED
    world.requests = [rollout.ManualRequest(rollout.Request.PROMOTE, "p1")]
    final, _ = run(spec, waited, world, now=now + timedelta(days=1))
    assert final.phase is Phase.HEALTHY
    assert 60 in weights(world)


def test_a_stuck_canary_fails_at_the_progress_deadline_and_rolls_back() -> None:
    world = World(stable="1", pods_fail=True)
    spec = make_spec("2", rollout={"steps": STEPS, "progressDeadline": "3m"}, analysis=ANALYSIS)
    status, now = run(spec, healthy("1"), world)
    assert status.phase is Phase.ROLLED_BACK
    assert status.history[-1].reason == api.Reason.PROGRESS_DEADLINE_EXCEEDED
    assert timedelta(minutes=3) <= now - T0 < timedelta(minutes=5)


def test_a_first_deployment_whose_pods_never_start_fails_and_says_so() -> None:
    world = World(pods_fail=True)
    status, _ = run(make_spec("1"), api.ModelDeploymentStatus(), world)
    assert status.phase is Phase.FAILED
    assert status.stable_version is None
    assert "0/4 pods ready" in status.message


def test_a_stalled_promotion_rolls_back_at_its_deadline() -> None:
    world = World(stable="1")
    spec = make_spec("2", rollout={"steps": [{"setWeight": 50}], "progressDeadline": "2m"})
    status, now = run(spec, healthy("1"), world, until=lambda s: s.phase is Phase.PROMOTING)
    world.pods_fail = True  # the stable's new pods never come up
    final, _ = run(spec, status, world, now=now)
    assert final.phase in {Phase.ROLLED_BACK, Phase.FAILED}
    assert final.stable_version == "1"
    assert final.history[-1].reason == api.Reason.PROGRESS_DEADLINE_EXCEEDED


def test_a_retry_starts_a_rolled_back_version_over_without_validating_it_again() -> None:
    world = World(stable="1", measure=failing)
    spec = make_spec("2", validation=VALIDATION, rollout={"steps": STEPS}, analysis=ANALYSIS)
    status, now = run(spec, healthy("1"), world)
    assert status.phase is Phase.ROLLED_BACK
    starts = sum(isinstance(a, rollout.StartValidation) for d in world.log for a in d.actions)
    world.measure = World().measure
    world.requests = [rollout.ManualRequest(rollout.Request.RETRY, "x")]
    final, _ = run(spec, status, world, now=now + timedelta(minutes=10))
    assert final.phase is Phase.HEALTHY
    assert final.stable_version == "2"
    again = sum(isinstance(a, rollout.StartValidation) for d in world.log for a in d.actions)
    assert again == starts


def test_history_stays_bounded_over_many_rollouts() -> None:
    world = World(stable="0")
    status, now = healthy("0"), T0
    for n in range(1, 15):
        status, now = run(make_spec(str(n)), status, world, now=now)
        assert status.stable_version == str(n)
    assert len(status.history) == api.HISTORY_LIMIT
    assert status.history[-1].version == "14"


def test_a_new_version_clears_the_failed_validation_job_of_the_one_before() -> None:
    world = World(stable="1", validation="failed")
    spec = make_spec("2", validation=VALIDATION)
    status, now = run(spec, healthy("1"), world)
    assert world.jobs == {"2"}  # kept for its logs
    world.validation = "passed"
    final, _ = run(make_spec("3", validation=VALIDATION), status, world, now=now)
    assert final.stable_version == "3"
    assert world.jobs == set()
