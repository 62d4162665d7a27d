"""`decide`: the rollout brain. (spec, status, observation, now) -> (new status, actions).

Each call makes at most one transition and says so with `requeue_after=0`; the controller calls
again, so every decision is small enough to read and to test on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from modelrollout.api import ModelDeploymentSpec, ModelDeploymentStatus, Outcome, Phase, Reason
from modelrollout.rollout import actions, canary, conditions, endings, gate, transitions
from modelrollout.rollout.observation import Observation, Request
from modelrollout.rollout.turn import ACTIVE, Turn


@dataclass(frozen=True)
class Decision:
    status: ModelDeploymentStatus
    actions: tuple[actions.Action, ...]
    requeue_after: timedelta | None
    """Call decide again after this long even if nothing changes (a pause ends, a round is due)."""


Handler = Callable[[Turn, frozenset[Request]], None]
HANDLERS: dict[Phase, Handler] = {
    Phase.VALIDATING: gate.validating,
    Phase.PROGRESSING: canary.stepping,
    Phase.PAUSED: canary.stepping,
    Phase.PROMOTING: endings.promoting,
    Phase.ROLLING_BACK: endings.rolling_back,
    Phase.HEALTHY: endings.resting,
    Phase.ROLLED_BACK: endings.resting,
    Phase.FAILED: endings.resting,
    Phase.PENDING: endings.resting,
}


def decide(
    *,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    observation: Observation,
    now: datetime,
) -> Decision:
    """The next status and what to do, as a function of the inputs only."""
    turn = Turn(
        spec=spec,
        obs=observation,
        now=now,
        status=status.model_copy(update={"observed_generation": observation.generation}),
    )
    if turn.status.phase_since is None:
        turn.update(phase_since=now)
    if observation.traffic is not None:
        turn.update(actual_canary_weight=observation.traffic.actual)
    requests = _take_requests(turn)
    _repair(turn)
    if not _follow_version(turn):
        if Request.ABORT in requests and turn.status.phase in ACTIVE - {Phase.ROLLING_BACK}:
            transitions.abort(turn)
        elif turn.status.phase is Phase.PROGRESSING and turn.status.stable_version is None:
            gate.first_deployment(turn)
        else:
            HANDLERS[turn.status.phase](turn, requests)
    _ignored(turn, requests, before=status.phase)
    _desired_state(turn)
    conditions.refresh(turn)
    # Re-validate: a decision can never write a status the API would reject.
    final = type(status).model_validate(turn.status.model_dump())
    wake = [max(at - now, timedelta(0)) for at in turn.wakes]
    requeue = timedelta(0) if turn.moved else min(wake, default=None)
    return Decision(status=final, actions=tuple(turn.actions), requeue_after=requeue)


def _take_requests(turn: Turn) -> frozenset[Request]:
    """Requests with a token not acted on yet; their tokens are remembered from now on."""
    handled = dict(turn.status.handled_requests)
    fresh = {r.kind for r in turn.obs.requests if handled.get(r.kind.value) != r.token}
    handled.update({r.kind.value: r.token for r in turn.obs.requests})
    turn.update(handled_requests=handled)
    return frozenset(fresh)


def _repair(turn: Turn) -> None:
    """Make an impossible status (hand-edited, or from an older operator) resumable."""
    status = turn.status
    if status.stable_version is None and status.phase in ACTIVE - {Phase.VALIDATING}:
        # A first deployment has no canary steps: it is either validating or deploying.
        turn.update(phase=Phase.PROGRESSING, canary_weight=0, pause_reason=None)
    elif status.phase is Phase.PAUSED and status.pause_reason is None:
        turn.update(phase=Phase.PROGRESSING)


def _follow_version(turn: Turn) -> bool:
    """React to spec.model.version changing; True when that was this turn's transition."""
    version, status = turn.target.version, turn.status
    stable, rolling = status.stable_version, status.canary_version
    if stable is not None and version == stable:
        if rolling is None:
            if status.phase is not Phase.HEALTHY and status.phase in ACTIVE | {Phase.PENDING}:
                turn.update(canary_weight=0, current_step=None, pause_reason=None)
                turn.enter(Phase.HEALTHY, Reason.PROMOTED, version=stable)
                return True
            return False
        # Back to the stable version: abandon the rollout at once, no validation needed.
        if status.phase in ACTIVE:
            turn.say(Reason.STABLE_REAPPLIED, warning=True, version=rolling)
            turn.record(version=rolling, outcome=Outcome.ABORTED, reason=Reason.STABLE_REAPPLIED)
            if status.phase is Phase.VALIDATING:
                turn.act(actions.DeleteValidation(version=rolling))
        turn.update(canary_version=None, canary_weight=0, current_step=None, analysis=None)
        turn.enter(Phase.HEALTHY, Reason.STABLE_REAPPLIED, version=rolling)
        return True
    if version == rolling and status.phase is not Phase.PENDING:
        return False
    if rolling is not None and status.phase in ACTIVE:
        turn.say(Reason.SUPERSEDED, warning=True, version=rolling, new=version)
        turn.record(version=rolling, outcome=Outcome.SUPERSEDED, reason=Reason.SUPERSEDED)
    old = status.validation
    if old is not None and old.version != version and old.passed is not True:
        # A running Job is stopped; a failed one, kept for its logs, goes with its version.
        turn.act(actions.DeleteValidation(version=old.version))
    transitions.start(turn, Reason.FIRST_DEPLOYMENT if stable is None else Reason.NEW_VERSION)
    return True


def _ignored(turn: Turn, requests: frozenset[Request], *, before: Phase) -> None:
    """Tell the person when a request had nothing to act on."""
    applies = {
        Request.PROMOTE: {Phase.PAUSED, Phase.PROGRESSING},
        Request.PROMOTE_FULL: {Phase.PROGRESSING, Phase.PAUSED},
        Request.ABORT: ACTIVE - {Phase.ROLLING_BACK},
        Request.RETRY: {Phase.PAUSED, Phase.ROLLED_BACK, Phase.FAILED},
    }
    for request in sorted(requests):
        if before not in applies[request]:
            turn.act(
                actions.RecordEvent(
                    reason=Reason.REQUEST_IGNORED,
                    message=f"The {request.value} request was ignored: nothing to "
                    f"{request.value} while {before.value}.",
                    type="Warning",
                )
            )


def _desired_state(turn: Turn) -> None:
    """The workloads and weight each phase wants, asked for on every turn (level-triggered)."""
    status, phase = turn.status, turn.status.phase
    stable, new = status.stable_model, turn.canary_model
    if stable is None:
        if new is not None and phase is Phase.PROGRESSING:
            turn.act(actions.EnsureStable(model=new), actions.SetWeight(weight=0))
        return
    if phase is Phase.PROMOTING and new is not None:
        # The stable takes the new version only once the canary carries all traffic.
        moving = turn.settled_at(100) or (
            turn.obs.stable is not None and turn.obs.stable.version == new.version
        )
        turn.act(
            actions.EnsureCanary(model=new),
            actions.SetWeight(weight=100),
            actions.EnsureStable(model=new if moving else stable),
        )
        return
    turn.act(actions.EnsureStable(model=stable))
    if phase in {Phase.PROGRESSING, Phase.PAUSED} and new is not None:
        turn.act(actions.EnsureCanary(model=new))
    turn.act(actions.SetWeight(weight=status.canary_weight))
