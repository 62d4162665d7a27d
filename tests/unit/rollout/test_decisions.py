"""One decision at a time: status and observation in, status and actions out, for each transition."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from modelrollout import api, rollout
from tests.unit.rollout.world import ANALYSIS, T0, VALIDATION, healthy, make_spec, model

pytestmark = pytest.mark.unit
Phase, Reason = api.Phase, api.Reason
STEPS = [{"setWeight": 10}, {"pause": {"duration": "60s"}}, {"pause": {}}, {"analysis": {}}]
SPEC = make_spec("2", rollout={"steps": STEPS}, analysis=ANALYSIS)
V1, V2 = api.ModelSpec.model_validate(model("1")), api.ModelSpec.model_validate(model("2"))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rolling(phase: Phase = Phase.PROGRESSING, **fields: Any) -> api.ModelDeploymentStatus:
    """Version 1 stable, version 2 rolling out."""
    base = {"phase": phase, "canary_version": "2", "current_step": 0, "step_started_at": T0}
    return healthy("1").model_copy(update=base | fields)


def seen(
    *, stable: str | None = "1", canary: str | None = None, weight: int = 0, settled: bool = True,
    **extra: Any,
) -> rollout.Observation:  # fmt: skip
    workloads = {
        "stable": None if stable is None else rollout.Workload(stable, 4, 4, 4),
        "canary": None if canary is None else rollout.Workload(canary, 4, 4, 4),
    }
    traffic = rollout.Traffic(weight=weight, settled=settled)
    return rollout.Observation(name="iris", generation=3, traffic=traffic, **workloads, **extra)


def ask(kind: rollout.Request, token: str = "t1") -> tuple[rollout.ManualRequest, ...]:
    return (rollout.ManualRequest(kind, token),)


@dataclass
class Case:
    status: api.ModelDeploymentStatus
    observation: rollout.Observation = field(default_factory=seen)
    spec: api.ModelDeploymentSpec = SPEC
    now: datetime = T0
    phase: Phase | None = None
    expect: dict[str, Any] = field(default_factory=dict)
    """Status fields (snake_case) and their expected values."""
    does: tuple[rollout.Action, ...] = ()
    """Actions that must be among those returned."""
    never: tuple[type, ...] = ()
    """Action types that must not be returned."""
    events: tuple[str, ...] = ()
    """Reasons of events that must be recorded."""


CASES = {
    "a new version is validated before any traffic moves": Case(
        status=healthy("1"),
        spec=make_spec("2", validation=VALIDATION),
        phase=Phase.VALIDATING,
        expect={"canary_version": "2", "canary_weight": 0},
        does=(rollout.EnsureStable(V1), rollout.SetWeight(0)),
        never=(rollout.EnsureCanary,),
    ),
    "a new version without validation goes straight to the steps": Case(
        status=healthy("1"), phase=Phase.PROGRESSING, expect={"current_step": 0}
    ),
    "a first deployment puts the version on the stable track": Case(
        status=api.ModelDeploymentStatus(),
        observation=seen(stable=None),
        spec=make_spec("1"),
        phase=Phase.PROGRESSING,
        does=(rollout.EnsureStable(api.ModelSpec.model_validate(model("1"))),),
    ),
    "a first deployment becomes stable once its pods are ready": Case(
        status=api.ModelDeploymentStatus(phase=Phase.PROGRESSING, canary_version="1"),
        spec=make_spec("1"),
        phase=Phase.HEALTHY,
        expect={"stable_version": "1", "canary_version": None},
    ),
    "validation starts a Job for the new version": Case(
        status=rolling(Phase.VALIDATING),
        spec=make_spec("2", validation=VALIDATION),
        phase=Phase.VALIDATING,
        does=(rollout.StartValidation(V2, V1),),
    ),
    "a passed validation moves to the first step and removes its Job": Case(
        status=rolling(
            Phase.VALIDATING, validation=api.ValidationStatus(version="2", started_at=T0)
        ),
        observation=seen(
            validation=rollout.ValidationResult("2", "passed", "ok", {"accuracy": 0.97})
        ),
        spec=make_spec("2", validation=VALIDATION),
        phase=Phase.PROGRESSING,
        does=(rollout.DeleteValidation("2"),),
    ),
    "a failed validation fails the version with no traffic moved": Case(
        status=rolling(
            Phase.VALIDATING, validation=api.ValidationStatus(version="2", started_at=T0)
        ),
        observation=seen(validation=rollout.ValidationResult("2", "failed", "accuracy 0.71 < 0.9")),
        spec=make_spec("2", validation=VALIDATION),
        phase=Phase.FAILED,
        expect={"canary_weight": 0, "stable_version": "1"},
        does=(rollout.SetWeight(0),),
        never=(rollout.EnsureCanary,),
    ),
    "a running validation past its timeout fails the version and stops the Job": Case(
        status=rolling(
            Phase.VALIDATING, validation=api.ValidationStatus(version="2", started_at=T0)
        ),
        observation=seen(validation=rollout.ValidationResult("2", "running")),
        spec=make_spec("2", validation=VALIDATION),
        now=at(7 * 60),
        phase=Phase.FAILED,
        does=(rollout.DeleteValidation("2"),),
    ),
    "a weight step asks for its weight": Case(
        status=rolling(),
        observation=seen(settled=False),
        phase=Phase.PROGRESSING,
        expect={"canary_weight": 10, "current_step": 0},
        does=(rollout.EnsureCanary(V2), rollout.SetWeight(10), rollout.EnsureStable(V1)),
    ),
    "a weight step waits while the canary pods are not ready": Case(
        status=rolling(canary_weight=10),
        observation=seen(canary="2", weight=10, settled=False),
        expect={"current_step": 0},
    ),
    "traffic settled at another weight does not finish a weight step": Case(
        status=rolling(canary_weight=10),
        observation=seen(weight=0, settled=True),
        expect={"current_step": 0},
    ),
    "a weight step moves on once the router has settled": Case(
        status=rolling(canary_weight=10),
        observation=seen(canary="2", weight=10),
        expect={"current_step": 1},
    ),
    "a weight step that never settles fails at the progress deadline": Case(
        status=rolling(canary_weight=10),
        observation=seen(canary="2", weight=10, settled=False),
        now=at(601),
        phase=Phase.ROLLING_BACK,
        expect={"canary_weight": 0},
        does=(rollout.SetWeight(0), rollout.EnsureStable(V1)),
    ),
    "a timed pause waits out its duration": Case(
        status=rolling(current_step=1, canary_weight=10),
        observation=seen(canary="2", weight=10),
        now=at(30),
        expect={"current_step": 1},
    ),
    "a timed pause ends after its duration": Case(
        status=rolling(current_step=1, canary_weight=10),
        observation=seen(canary="2", weight=10),
        now=at(61),
        expect={"current_step": 2},
    ),
    "a pause without duration waits for a person": Case(
        status=rolling(current_step=2, canary_weight=10),
        observation=seen(canary="2", weight=10),
        phase=Phase.PAUSED,
        expect={"pause_reason": Reason.MANUAL_PAUSE.value, "canary_weight": 10},
    ),
    "a promote request goes past a manual pause": Case(
        status=rolling(
            Phase.PAUSED, current_step=2, pause_reason=api.Reason.MANUAL_PAUSE, canary_weight=10
        ),
        observation=seen(canary="2", weight=10, requests=ask(rollout.Request.PROMOTE)),
        phase=Phase.PROGRESSING,
        expect={"current_step": 3, "handled_requests": {"promote": "t1"}},
    ),
    "a promote request already carried out is not carried out again": Case(
        status=rolling(
            Phase.PAUSED,
            current_step=2,
            pause_reason=api.Reason.MANUAL_PAUSE,
            handled_requests={"promote": "t1"},
        ),
        observation=seen(canary="2", weight=10, requests=ask(rollout.Request.PROMOTE)),
        phase=Phase.PAUSED,
        expect={"current_step": 2},
    ),
    "a promote request skips a timed pause": Case(
        status=rolling(current_step=1, canary_weight=10),
        observation=seen(canary="2", weight=10, requests=ask(rollout.Request.PROMOTE)),
        now=at(5),
        phase=Phase.PROGRESSING,
        expect={"current_step": 2},
    ),
    "a promote request does not skip a weight step": Case(
        status=rolling(canary_weight=10),
        observation=seen(
            canary="2", weight=10, settled=False, requests=ask(rollout.Request.PROMOTE)
        ),
        phase=Phase.PROGRESSING,
        expect={"current_step": 0},
        events=("RequestIgnored",),
    ),
    "promote-full skips the remaining steps": Case(
        status=rolling(current_step=1, canary_weight=10),
        observation=seen(canary="2", weight=10, requests=ask(rollout.Request.PROMOTE_FULL)),
        phase=Phase.PROMOTING,
        expect={"canary_weight": 100},
    ),
    "abort rolls back even when rollback is not automatic": Case(
        status=rolling(current_step=1, canary_weight=10),
        spec=make_spec(
            "2", rollout={"steps": STEPS}, analysis=ANALYSIS, rollback={"automatic": False}
        ),
        observation=seen(canary="2", weight=10, requests=ask(rollout.Request.ABORT)),
        phase=Phase.ROLLING_BACK,
        expect={"canary_weight": 0},
        does=(rollout.SetWeight(0),),
    ),
    "an analysis step starts a run and waits an interval for the first round": Case(
        status=rolling(current_step=3, canary_weight=10),
        observation=seen(canary="2", weight=10),
        phase=Phase.PROGRESSING,
        expect={"current_step": 3},
    ),
    "after the last step the canary is promoted": Case(
        status=rolling(current_step=4, canary_weight=10),
        observation=seen(canary="2", weight=10),
        phase=Phase.PROMOTING,
        expect={"canary_weight": 100},
    ),
    "promotion keeps the stable on its version until the canary carries all traffic": Case(
        status=rolling(Phase.PROMOTING, current_step=4, canary_weight=100),
        observation=seen(canary="2", weight=100, settled=False),
        does=(rollout.EnsureStable(V1), rollout.SetWeight(100)),
    ),
    "promotion moves the stable to the new version once the canary carries all traffic": Case(
        status=rolling(Phase.PROMOTING, current_step=4, canary_weight=100),
        observation=seen(canary="2", weight=100),
        phase=Phase.PROMOTING,
        does=(rollout.EnsureStable(V2),),
    ),
    "promotion completes when the stable runs the new version": Case(
        status=rolling(Phase.PROMOTING, current_step=4, canary_weight=100),
        observation=seen(stable="2", canary="2", weight=100),
        phase=Phase.HEALTHY,
        expect={"stable_version": "2", "canary_version": None, "canary_weight": 0},
        does=(rollout.EnsureStable(V2), rollout.SetWeight(0)),
    ),
    "rolling back ends when traffic is back on the stable": Case(
        status=rolling(Phase.ROLLING_BACK, canary_weight=0),
        observation=seen(canary="2", weight=0),
        phase=Phase.ROLLED_BACK,
    ),
    "rolling back waits while the router still holds canary traffic": Case(
        status=rolling(Phase.ROLLING_BACK, canary_weight=0, phase_since=T0),
        observation=seen(canary="2", weight=0, settled=False),
        now=at(30),
        phase=Phase.ROLLING_BACK,
        does=(rollout.SetWeight(0), rollout.EnsureStable(V1)),
    ),
    "a new version during a rollout starts over from it": Case(
        status=rolling(current_step=2, canary_weight=30),
        spec=make_spec("3"),
        observation=seen(canary="2", weight=30),
        phase=Phase.PROGRESSING,
        expect={"canary_version": "3", "canary_weight": 0, "current_step": 0},
        does=(rollout.SetWeight(0),),
    ),
    "a new version during validation stops the old validation Job": Case(
        status=rolling(
            Phase.VALIDATING, validation=api.ValidationStatus(version="2", started_at=T0)
        ),
        spec=make_spec("3", validation=VALIDATION),
        phase=Phase.VALIDATING,
        expect={"canary_version": "3", "validation": None},
        does=(rollout.DeleteValidation("2"), rollout.SetWeight(0)),
    ),
    "re-applying the stable version mid-rollout abandons the canary at once": Case(
        status=rolling(current_step=2, canary_weight=50),
        spec=make_spec("1"),
        observation=seen(canary="2", weight=50),
        phase=Phase.HEALTHY,
        expect={"canary_version": None, "canary_weight": 0, "stable_version": "1"},
        does=(rollout.SetWeight(0), rollout.EnsureStable(V1)),
        never=(rollout.StartValidation, rollout.EnsureCanary),
    ),
    "spec.rollout.paused holds the rollout where it is": Case(
        status=rolling(current_step=1, canary_weight=10),
        spec=make_spec("2", rollout={"steps": STEPS, "paused": True}, analysis=ANALYSIS),
        observation=seen(canary="2", weight=10),
        now=at(3600),
        phase=Phase.PAUSED,
        expect={"current_step": 1, "canary_weight": 10, "pause_reason": "PausedBySpec"},
    ),
    "unpausing the spec resumes the rollout": Case(
        status=rolling(
            Phase.PAUSED, current_step=1, canary_weight=10, pause_reason=api.Reason.PAUSED_BY_SPEC
        ),
        observation=seen(canary="2", weight=10),
        now=at(3600),
        phase=Phase.PROGRESSING,
        expect={"current_step": 1, "step_started_at": at(3600)},
    ),
    "a healthy deployment removes a leftover canary once traffic is off it": Case(
        status=healthy("1"),
        spec=make_spec("1"),
        observation=seen(canary="2", weight=0),
        phase=Phase.HEALTHY,
        does=(rollout.DeleteCanary(),),
    ),
    "a retry starts a rolled-back version over": Case(
        status=rolling(Phase.ROLLED_BACK, canary_weight=0),
        observation=seen(canary="2", requests=ask(rollout.Request.RETRY)),
        phase=Phase.PROGRESSING,
        expect={"current_step": 0, "canary_version": "2"},
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_transition(case: Case) -> None:
    decision = rollout.decide(
        spec=case.spec, status=case.status, observation=case.observation, now=case.now
    )
    if case.phase is not None:
        assert decision.status.phase is case.phase, decision.status.message
    for name, value in case.expect.items():
        assert getattr(decision.status, name) == value, name
    for action in case.does:
        assert action in decision.actions
    for kind in case.never:
        assert not any(isinstance(a, kind) for a in decision.actions)
    reasons = {a.reason for a in decision.actions if isinstance(a, rollout.RecordEvent)}
    assert set(case.events) <= reasons
    assert decision.status.observed_generation == 3


def test_a_request_that_does_not_apply_is_reported_not_dropped() -> None:
    obs = seen(requests=ask(rollout.Request.PROMOTE))
    decision = rollout.decide(spec=make_spec("1"), status=healthy("1"), observation=obs, now=T0)
    events = [a for a in decision.actions if isinstance(a, rollout.RecordEvent)]
    assert [e.reason for e in events] == ["RequestIgnored"]
    assert events[0].type == "Warning"
    assert decision.status.handled_requests == {"promote": "t1"}


def test_a_timed_pause_asks_to_be_called_when_it_ends() -> None:
    status = rolling(current_step=1, canary_weight=10)
    obs = seen(canary="2", weight=10)
    decision = rollout.decide(spec=SPEC, status=status, observation=obs, now=at(55))
    assert decision.requeue_after == timedelta(seconds=5)


def test_a_transition_asks_to_be_called_again_at_once() -> None:
    decision = rollout.decide(spec=SPEC, status=healthy("1"), observation=seen(), now=T0)
    assert decision.requeue_after == timedelta(0)


def test_conditions_describe_a_paused_rollout() -> None:
    status = rolling(current_step=2, canary_weight=10)
    obs = seen(canary="2", weight=10)
    decision = rollout.decide(spec=SPEC, status=status, observation=obs, now=T0)
    conditions = {c.type: c for c in decision.status.conditions}
    assert conditions["Paused"].status == "True"
    assert conditions["Paused"].reason == "ManualPause"
    assert conditions["Progressing"].status == "True"
    assert conditions["Available"].status == "True"
