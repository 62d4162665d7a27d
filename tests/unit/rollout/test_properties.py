"""Invariants of the brain over random specs, statuses and observation sequences (hypothesis)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelrollout import api, rollout
from modelrollout.analysis import judge
from tests.unit.rollout.world import ANALYSIS, T0, VALIDATION, World, healthy, make_spec, model

pytestmark = pytest.mark.unit
Phase = api.Phase
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

step = st.one_of(
    st.builds(lambda w: {"setWeight": w}, st.integers(0, 100)),
    st.builds(lambda s: {"pause": {"duration": f"{s}s"}}, st.integers(1, 300)),
    st.just({"pause": {}}),
    st.just({"analysis": {}}),
)


@st.composite
def specs(draw: st.DrawFn, *, version: str = "2") -> api.ModelDeploymentSpec:
    steps = draw(st.lists(step, max_size=6))
    sections: dict[str, Any] = {
        "rollout": {"steps": steps, "progressDeadline": f"{draw(st.integers(1, 5))}m"},
        "analysis": ANALYSIS | {"count": draw(st.integers(1, 3))},
        "rollback": {"automatic": draw(st.booleans())},
    }
    if draw(st.booleans()):
        sections["validation"] = VALIDATION
    return make_spec(version, **sections)


def measurement(phase: str) -> Any:
    return lambda now: [
        api.Measurement(metric="accuracy", phase=api.MeasurementPhase(phase), measured_at=now)
    ]


def check_decision(before: api.ModelDeploymentStatus, decision: rollout.Decision) -> None:
    after = decision.status
    assert 0 <= after.canary_weight <= 100
    for action in decision.actions:
        if isinstance(action, rollout.SetWeight):
            assert 0 <= action.weight <= 100
        if isinstance(action, rollout.EnsureStable) and after.stable_version is not None:
            # The stable only takes another version while promoting, or once it is promoted.
            assert action.model.version == after.stable_version or after.phase is Phase.PROMOTING
    if after.stable_version is not None:
        # Never removed while a canary is unproven: the stable is asked for on every turn.
        assert any(isinstance(a, rollout.EnsureStable) for a in decision.actions)
    if before.stable_version is not None and after.stable_version != before.stable_version:
        assert after.phase is Phase.HEALTHY
        assert after.history[-1].outcome is api.Outcome.PROMOTED
    assert len(after.history) <= api.HISTORY_LIMIT


def check_weight_steps(
    spec: api.ModelDeploymentSpec,
    before: api.ModelDeploymentStatus,
    obs: rollout.Observation,
    after: api.ModelDeploymentStatus,
) -> None:
    """A weight step is passed only once traffic has settled at its weight (pods ready)."""
    index = before.current_step
    steps = spec.rollout.steps
    if index is None or not 0 <= index < len(steps) or steps[index].set_weight is None:
        return
    moved_on = after.current_step is not None and after.current_step > index
    manual = any(r.kind is rollout.Request.PROMOTE_FULL for r in obs.requests)
    if moved_on and not manual and after.canary_version == before.canary_version:
        traffic = obs.traffic
        assert traffic is not None
        assert traffic.settled
        assert traffic.weight == steps[index].set_weight


def drive(spec: api.ModelDeploymentSpec, status: api.ModelDeploymentStatus, world: World,
          turns: int = 120) -> api.ModelDeploymentStatus:  # fmt: skip
    now = T0
    for _ in range(turns):
        obs = world.observe(spec, status, now)
        decision = rollout.decide(spec=spec, status=status, observation=obs, now=now)
        check_decision(status, decision)
        check_weight_steps(spec, status, obs, decision.status)
        world.apply(decision)
        status = decision.status
        if status.phase.is_terminal and decision.requeue_after != timedelta(0):
            break
        now += decision.requeue_after or timedelta(seconds=10)
        now += timedelta(seconds=1)
    return status


@SETTINGS
@given(
    spec=specs(),
    outcome=st.sampled_from(["Successful", "Failed", "Inconclusive", "Error"]),
    validation=st.sampled_from(["passed", "failed"]),
    pods_fail=st.booleans(),
)
def test_the_invariants_hold_over_whole_rollouts(
    spec: api.ModelDeploymentSpec, outcome: str, validation: Any, pods_fail: bool
) -> None:
    world = World(
        stable="1", measure=measurement(outcome), validation=validation, pods_fail=pods_fail
    )
    final = drive(spec, healthy("1"), world)
    # Never stuck: it ends, or it waits for a person with the reason in status.
    assert final.phase.is_terminal or final.phase is Phase.PAUSED
    if final.phase is Phase.PAUSED:
        assert final.pause_reason is not None


@SETTINGS
@given(spec=specs())
def test_a_failed_analysis_with_automatic_rollback_ends_on_the_stable_at_full_weight(
    spec: api.ModelDeploymentSpec,
) -> None:
    steps = [*spec.rollout.steps, api.Step(analysis=api.AnalysisStep())]
    rollout_spec = spec.rollout.model_copy(update={"steps": steps, "paused": False})
    spec = spec.model_copy(
        update={"rollout": rollout_spec, "rollback": api.RollbackSpec(automatic=True)}
    )
    world = World(stable="1", measure=measurement("Failed"))
    # a manual pause on the way is promoted by a person, so the analysis is reached
    world.requests = []
    status = healthy("1")
    for n in range(20):
        status = drive(spec, status, world)
        if status.phase is not Phase.PAUSED:
            break
        world.requests = [rollout.ManualRequest(rollout.Request.PROMOTE, f"p{n}")]
    assert status.phase is Phase.ROLLED_BACK
    assert status.stable_version == "1"
    assert status.canary_weight == 0
    assert world.stable == "1"
    assert world.weight == 0


phases = st.sampled_from(list(Phase))
versions = st.sampled_from(["1", "2", "3"])
opt_version = st.one_of(st.none(), versions)


@st.composite
def statuses(draw: st.DrawFn) -> api.ModelDeploymentStatus:
    stable = draw(opt_version)
    run_ = draw(
        st.one_of(
            st.none(),
            st.builds(
                api.AnalysisStatus,
                phase=st.sampled_from(list(api.AnalysisPhase)),
                step=st.one_of(st.none(), st.integers(0, 6)),
                rounds=st.integers(0, 5),
                started_at=st.just(T0),
            ),
        )
    )
    return api.ModelDeploymentStatus(
        phase=draw(phases),
        stable_version=stable,
        stable_model=None if stable is None else api.ModelSpec.model_validate(model(stable)),
        canary_version=draw(opt_version),
        canary_weight=draw(st.integers(0, 100)),
        current_step=draw(st.one_of(st.none(), st.integers(0, 8))),
        step_started_at=draw(st.one_of(st.none(), st.just(T0))),
        phase_since=draw(st.one_of(st.none(), st.just(T0))),
        pause_reason=draw(st.one_of(st.none(), st.sampled_from(list(api.Reason)))),
        validation=draw(
            st.one_of(
                st.none(),
                st.builds(
                    api.ValidationStatus,
                    version=versions,
                    passed=st.one_of(st.none(), st.booleans()),
                    started_at=st.just(T0),
                ),
            )
        ),
        analysis=run_,
    )


workloads = st.one_of(
    st.none(),
    st.builds(
        rollout.Workload, opt_version, st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)
    ),
)


@st.composite
def observations(draw: st.DrawFn) -> rollout.Observation:
    return rollout.Observation(
        name="iris",
        generation=draw(st.integers(1, 5)),
        stable=draw(workloads),
        canary=draw(workloads),
        traffic=draw(
            st.one_of(st.none(), st.builds(rollout.Traffic, st.integers(0, 100), st.booleans()))
        ),
        validation=draw(
            st.one_of(
                st.none(),
                st.builds(
                    rollout.ValidationResult,
                    versions,
                    st.sampled_from(["running", "passed", "failed"]),
                ),
            )
        ),
        measurements=tuple(
            draw(
                st.lists(
                    st.builds(
                        api.Measurement,
                        metric=st.just("accuracy"),
                        phase=st.sampled_from(list(api.MeasurementPhase)),
                        measured_at=st.integers(0, 3600).map(lambda s: T0 + timedelta(seconds=s)),
                    ),
                    max_size=2,
                )
            )
        ),
        requests=tuple(
            draw(
                st.lists(
                    st.builds(
                        rollout.ManualRequest,
                        st.sampled_from(list(rollout.Request)),
                        st.sampled_from("ab"),
                    ),
                    max_size=2,
                )
            )
        ),
    )


@SETTINGS
@given(
    spec=specs(version="2"),
    status=statuses(),
    observation=observations(),
    later=st.integers(0, 7200),
)
def test_decide_is_a_function_of_its_inputs_from_any_status(
    spec: api.ModelDeploymentSpec,
    status: api.ModelDeploymentStatus,
    observation: rollout.Observation,
    later: int,
) -> None:
    now = T0 + timedelta(seconds=later)
    kept = copy.deepcopy(status)
    first = rollout.decide(spec=spec, status=status, observation=observation, now=now)
    second = rollout.decide(spec=spec, status=status, observation=observation, now=now)
    assert first == second
    assert status == kept  # the input is untouched
    check_decision(status, first)


@SETTINGS
@given(spec=specs(version="2"), status=statuses(), observation=observations())
def test_from_any_status_a_cooperative_cluster_brings_the_rollout_to_rest(
    spec: api.ModelDeploymentSpec, status: api.ModelDeploymentStatus, observation: Any
) -> None:
    del observation
    spec = spec.model_copy(update={"rollout": spec.rollout.model_copy(update={"paused": False})})
    world = World(stable=status.stable_version, canary=status.canary_version)
    final = drive(spec, status, world, turns=300)
    assert final.phase.is_terminal or final.phase is Phase.PAUSED
    if final.phase.is_terminal:
        assert final.canary_weight == 0
    else:
        steps = {s.set_weight for s in spec.rollout.steps}
        assert final.canary_weight in {0, status.canary_weight, *steps}


@SETTINGS
@given(
    phases=st.lists(
        st.sampled_from(["Successful", "Failed", "Inconclusive", "Error"]), min_size=1, max_size=12
    )
)
def test_random_measurement_sequences_never_promote_on_failure(phases: list[str]) -> None:
    spec = make_spec(
        "2",
        rollout={"steps": [{"setWeight": 20}, {"analysis": {}}]},
        analysis=ANALYSIS | {"count": 3},
    )
    feed = iter(phases)

    def next_round(now: Any) -> list[api.Measurement]:
        phase = next(feed, "Inconclusive")
        return measurement(phase)(now)  # type: ignore[no-any-return]

    world = World(stable="1", measure=next_round)
    final = drive(spec, healthy("1"), world)
    seen = phases[: final.analysis.rounds if final.analysis else 0]
    if final.stable_version == "2":
        assert "Failed" not in seen
        assert seen.count("Successful") >= 3
    limits = judge.Limits.of(spec.analysis)  # type: ignore[arg-type]
    if seen.count("Failed") > limits.failure_limit:
        assert final.phase is Phase.ROLLED_BACK
