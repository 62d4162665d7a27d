"""The transitions several phases share: start a rollout, fail it, abort it, promote it."""

from __future__ import annotations

from modelrollout.api import Outcome, Phase, Reason
from modelrollout.rollout import actions
from modelrollout.rollout.turn import Turn


def start(turn: Turn, reason: Reason) -> None:
    """Begin rolling out spec.model: validate first when asked, else go straight to the steps."""
    version = turn.target.version
    old = turn.status.validation
    validated = old is not None and old.version == version and old.passed is True
    turn.update(
        canary_version=version,
        canary_weight=0,
        current_step=0,
        step_started_at=turn.now,
        analysis=None,
        validation=old if validated else None,
    )
    turn.moved = True
    validate = turn.spec.validation is not None and not validated
    plan = "validating it before any traffic moves" if validate else "starting the canary steps"
    turn.enter(
        Phase.VALIDATING if validate else Phase.PROGRESSING,
        reason,
        stable=turn.status.stable_version or "none",
        plan=plan,
    )


def fail(turn: Turn, reason: Reason, detail: str) -> None:
    """The canary failed: roll back at once, or wait for a person when rollback is not automatic."""
    version = turn.status.canary_version or turn.target.version
    deadline = turn.spec.rollout.progress_deadline
    if turn.status.stable_version is None:
        # A first deployment has nothing to fall back to.
        turn.enter(Phase.FAILED, reason, warning=True, detail=detail, deadline=deadline)
        turn.record(version=version, outcome=Outcome.FAILED, reason=reason)
        return
    turn.say(reason, warning=True, detail=detail, deadline=deadline)
    if turn.spec.rollback.automatic:
        roll_back(turn, reason, outcome=Outcome.ROLLED_BACK, detail=detail)
    else:
        turn.enter(
            Phase.PAUSED,
            Reason.AWAITING_ROLLBACK,
            warning=True,
            detail=detail,
            weight=turn.status.canary_weight,
        )


def roll_back(turn: Turn, cause: Reason, *, outcome: Outcome, detail: str) -> None:
    """Send all traffic to the stable version; RollingBack ends once the router has settled."""
    version = turn.status.canary_version or turn.target.version
    if turn.status.phase is Phase.VALIDATING:
        turn.act(actions.DeleteValidation(version=version))
    turn.update(canary_weight=0)
    turn.enter(Phase.ROLLING_BACK, Reason.ROLLING_BACK, warning=True, detail=detail)
    turn.record(version=version, outcome=outcome, reason=cause)


def abort(turn: Turn) -> None:
    """A person asked to abort: roll back whatever spec.rollback.automatic says."""
    if turn.status.stable_version is None:
        version = turn.status.canary_version or turn.target.version
        if turn.status.phase is Phase.VALIDATING:
            turn.act(actions.DeleteValidation(version=version))
        turn.enter(Phase.FAILED, Reason.MANUAL_ABORT)
        turn.record(version=version, outcome=Outcome.ABORTED, reason=Reason.MANUAL_ABORT)
        return
    turn.say(Reason.MANUAL_ABORT)
    roll_back(turn, Reason.MANUAL_ABORT, outcome=Outcome.ABORTED, detail="aborted by request")


def promote(turn: Turn, reason: Reason) -> None:
    """All steps done (or skipped by request): move traffic and capacity to the canary."""
    turn.update(canary_weight=100, current_step=len(turn.spec.rollout.steps))
    if reason is not Reason.PROMOTING:
        turn.say(reason, step=turn.status.current_step)
    turn.enter(Phase.PROMOTING, Reason.PROMOTING)


def finish_promotion(turn: Turn) -> None:
    """The canary's version is the stable one now; the canary's pods go once traffic has moved."""
    version = turn.target.version
    turn.update(
        stable_version=version,
        stable_model=turn.target,
        canary_version=None,
        canary_weight=0,
        current_step=None,
        step_started_at=None,
    )
    turn.enter(Phase.HEALTHY, Reason.PROMOTED, version=version)
    turn.record(version=version, outcome=Outcome.PROMOTED, reason=Reason.PROMOTED)
