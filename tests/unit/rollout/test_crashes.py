"""A canary container OOM-killed or crash-looping fails the rollout at once, naming the container."""

from __future__ import annotations

from typing import Any

import pytest

from modelrollout import api, rollout
from tests.unit.rollout.world import T0, healthy, make_spec

pytestmark = pytest.mark.unit
Phase, Reason = api.Phase, api.Reason
SPEC = make_spec("2", rollout={"steps": [{"setWeight": 20}, {"pause": {}}]})
OOM = rollout.ContainerDeath(
    pod="iris-canary-7d9f-abcde", container="server", version="2", reason="OOMKilled",
    exit_code=137, restarts=1,
)  # fmt: skip


def rolling(**fields: Any) -> api.ModelDeploymentStatus:
    base = {
        "phase": Phase.PROGRESSING, "canary_version": "2", "current_step": 0,
        "step_started_at": T0, "canary_weight": 20,
    }  # fmt: skip
    return healthy("1").model_copy(update=base | fields)


def seen(*deaths: rollout.ContainerDeath, ready: int = 1) -> rollout.Observation:
    return rollout.Observation(
        name="iris",
        generation=3,
        stable=rollout.Workload("1", 4, 4, 4),
        canary=rollout.Workload("2", 1, ready, 1, deaths=deaths),
        traffic=rollout.Traffic(weight=20, settled=ready == 1, actual=20.0),
    )


def decide(
    status: api.ModelDeploymentStatus,
    obs: rollout.Observation,
    spec: api.ModelDeploymentSpec = SPEC,
) -> rollout.Decision:
    return rollout.decide(spec=spec, status=status, observation=obs, now=T0)


def events(decision: rollout.Decision) -> dict[str, str]:
    return {a.reason: a.message for a in decision.actions if isinstance(a, rollout.RecordEvent)}


def test_an_oom_killed_canary_container_rolls_back_at_once_naming_it() -> None:
    decision = decide(rolling(), seen(OOM, ready=0))
    st = decision.status
    assert st.phase is Phase.ROLLING_BACK
    assert st.canary_weight == 0
    assert st.stable_version == "1"
    assert "container server of pod iris-canary-7d9f-abcde was OOMKilled" in st.message
    (last,) = st.history
    assert (last.version, last.outcome, last.reason) == (
        "2",
        api.Outcome.ROLLED_BACK,
        "CanaryCrashed",
    )
    assert "OOMKilled" in last.message
    crashed = events(decision)["CanaryCrashed"]
    assert "exit code 137, 1 restarts" in crashed
    assert "spec.serving.resources.limits.memory" in crashed
    # The stable keeps its full capacity and all traffic.
    assert rollout.SetWeight(0) in decision.actions
    assert not any(isinstance(a, rollout.EnsureCanary) for a in decision.actions)


def test_an_oom_kill_ends_a_manual_pause_too() -> None:
    status = rolling(phase=Phase.PAUSED, current_step=1, pause_reason="ManualPause")
    assert decide(status, seen(OOM)).status.phase is Phase.ROLLING_BACK


def test_a_crash_loop_for_another_reason_rolls_back_as_well() -> None:
    looping = rollout.ContainerDeath(
        pod="p", container="server", version="2", reason="Error", exit_code=1, restarts=3,
        crash_looping=True,
    )  # fmt: skip
    st = decide(rolling(), seen(looping, ready=0)).status
    assert st.phase is Phase.ROLLING_BACK
    assert "was Error (exit code 1, 3 restarts, now in CrashLoopBackOff)" in st.message


def test_one_exit_that_is_not_oom_waits_for_the_restart_within_the_deadline() -> None:
    once = rollout.ContainerDeath(
        pod="p", container="server", version="2", reason="Error", exit_code=1, restarts=1
    )
    decision = decide(rolling(), seen(once, ready=0))
    assert decision.status.phase is Phase.PROGRESSING
    assert "CanaryCrashed" not in events(decision)


def test_a_dead_container_of_another_version_is_not_this_canarys() -> None:
    older = rollout.ContainerDeath(**{**OOM.__dict__, "version": "0"})
    assert decide(rolling(), seen(older, ready=0)).status.phase is Phase.PROGRESSING


def test_without_automatic_rollback_an_oom_kill_holds_for_a_person_and_is_said_once() -> None:
    spec = make_spec(
        "2", rollout={"steps": [{"setWeight": 20}, {"pause": {}}]}, rollback={"automatic": False}
    )
    first = decide(rolling(), seen(OOM), spec)
    assert first.status.phase is Phase.PAUSED
    assert first.status.pause_reason == "AwaitingRollback"
    again = decide(first.status, seen(OOM), spec)
    assert again.status.phase is Phase.PAUSED
    assert "CanaryCrashed" not in events(again)
