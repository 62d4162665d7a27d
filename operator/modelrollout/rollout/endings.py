"""The phases after the steps: Promoting, RollingBack, and the resting phases that clean up."""

from __future__ import annotations

from modelrollout.api import Phase, Reason, parse_duration
from modelrollout.rollout import actions, timing, transitions
from modelrollout.rollout.observation import Request
from modelrollout.rollout.turn import Turn


def promoting(turn: Turn, requests: frozenset[Request]) -> None:
    """Canary at 100%, then the stable Deployment takes the new version; done when it is ready."""
    del requests
    version = turn.target.version
    stable = turn.obs.stable
    if stable is not None and stable.rolled_out(version) and turn.settled_at(100):
        transitions.finish_promotion(turn)
        return
    deadline = (turn.status.phase_since or turn.now) + timing.progress_deadline(turn.spec)
    if turn.now >= deadline:
        ready = "no" if stable is None else f"{stable.ready}/{stable.replicas}"
        detail = f"promotion stalled with {ready} stable pods ready on version {version}"
        transitions.fail(turn, Reason.PROGRESS_DEADLINE_EXCEEDED, detail)
        return
    turn.poll()
    turn.wake(deadline)


def rolling_back(turn: Turn, requests: frozenset[Request]) -> None:
    """Traffic returns to the stable version; RolledBack once the router reports it settled."""
    del requests
    if turn.settled_at(0):
        turn.enter(Phase.ROLLED_BACK, Reason.ROLLED_BACK)
        return
    deadline = (turn.status.phase_since or turn.now) + timing.progress_deadline(turn.spec)
    if turn.now >= deadline:
        stable = turn.obs.stable
        ready = "no" if stable is None else f"{stable.ready}/{stable.replicas}"
        detail = f"traffic did not return to the stable version ({ready} stable pods ready)"
        # Failed still keeps asking for the stable at full weight, so it converges when it can.
        turn.enter(Phase.FAILED, Reason.PROGRESS_DEADLINE_EXCEEDED, warning=True, detail=detail)
        return
    turn.poll()
    turn.wake(deadline)


def resting(turn: Turn, requests: frozenset[Request]) -> None:
    """Healthy, RolledBack, Failed: keep the stable serving, clear what the rollout left behind."""
    phase = turn.status.phase
    if Request.RETRY in requests and phase is not Phase.HEALTHY:
        transitions.start(turn, Reason.RETRY)
        return
    # At rest all traffic is on the stable version, whatever an older status said.
    turn.update(canary_weight=0)
    failed = turn.status.canary_version is not None
    if turn.obs.canary is not None and turn.settled_at(0) and turn.status.stable_version:
        if not failed:
            turn.act(actions.DeleteCanary())
        elif turn.spec.rollback.scale_down_failed:
            at = (turn.status.phase_since or turn.now) + parse_duration(
                turn.spec.rollback.scale_down_delay
            )
            if turn.now >= at:
                turn.act(actions.DeleteCanary())
            turn.wake(at)
    validation = turn.obs.validation
    if validation is not None and validation.state != "running" and not failed:
        turn.act(actions.DeleteValidation(version=validation.version))
