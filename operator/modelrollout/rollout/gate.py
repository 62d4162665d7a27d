"""Before any canary: the validation gate (Validating) and a first deployment with no stable yet."""

from __future__ import annotations

from modelrollout.api import Outcome, Phase, Reason, ValidationStatus
from modelrollout.rollout import actions, timing, transitions
from modelrollout.rollout.observation import Request
from modelrollout.rollout.turn import Turn


def validating(turn: Turn, requests: frozenset[Request]) -> None:
    del requests
    spec, version = turn.spec, turn.target.version
    turn.update(canary_weight=0)  # nothing reaches a version before it passes
    if spec.validation is None:  # removed from the spec while it ran
        turn.update(current_step=0, step_started_at=turn.now)
        turn.enter(Phase.PROGRESSING, Reason.VALIDATION_PASSED, detail="Validation was removed.")
        return
    started = turn.status.validation
    if started is None or started.version != version:
        started = ValidationStatus(version=version, started_at=turn.now)
        turn.update(validation=started)
        turn.say(Reason.VALIDATION_STARTED, timeout=spec.validation.timeout)
    result = turn.obs.validation
    if result is not None and result.version != version:
        result = None
    if result is None or result.state == "running":
        if result is None:  # also how a restarted operator, or a deleted Job, resumes
            turn.act(actions.StartValidation(model=turn.target, stable=turn.status.stable_model))
        deadline = timing.validation_deadline(spec, turn.status)
        if deadline is not None and turn.now >= deadline:
            turn.act(actions.DeleteValidation(version=version))
            _never_served(turn, Reason.VALIDATION_TIMED_OUT, timeout=spec.validation.timeout)
            return
        turn.poll()
        turn.wake(deadline)
        return
    done = started.model_copy(
        update={
            "passed": result.state == "passed",
            "metrics": dict(result.metrics),
            "message": result.message,
            "finished_at": turn.now,
        }
    )
    turn.update(validation=done)
    if result.state == "passed":
        turn.act(actions.DeleteValidation(version=version))
        turn.update(current_step=0, step_started_at=turn.now)
        turn.enter(Phase.PROGRESSING, Reason.VALIDATION_PASSED, detail=result.message)
        return
    # The failed Job stays for its logs until the next version replaces it.
    detail = result.message or "see the validation Job's report."
    _never_served(turn, Reason.VALIDATION_FAILED, detail=detail)


def _never_served(turn: Turn, reason: Reason, **values: str) -> None:
    """The version failed before any traffic moved: nothing to roll back."""
    turn.update(canary_weight=0)
    turn.enter(Phase.FAILED, reason, warning=True, **values)
    turn.record(version=turn.target.version, outcome=Outcome.FAILED, reason=reason)


def first_deployment(turn: Turn) -> None:
    """No stable yet: the version goes straight to the stable track and becomes stable when ready."""
    stable = turn.obs.stable
    if stable is not None and stable.rolled_out(turn.target.version):
        transitions.finish_promotion(turn)
        return
    deadline = (turn.status.phase_since or turn.now) + timing.progress_deadline(turn.spec)
    if turn.now >= deadline:
        ready = 0 if stable is None else stable.ready
        wanted = turn.spec.serving.replicas
        transitions.fail(turn, Reason.PROGRESS_DEADLINE_EXCEEDED, f"{ready}/{wanted} pods ready")
        return
    turn.poll()
    turn.wake(deadline)
