"""The canary steps: Progressing and Paused, with their weights, pauses and analysis runs."""

from __future__ import annotations

import dataclasses
import math

from modelrollout.analysis import judge
from modelrollout.api import AnalysisPhase, AnalysisStatus, Phase, Reason, ShadowStep, Step
from modelrollout.api import parse_duration as duration
from modelrollout.rollout import actions, crashes, timing, transitions
from modelrollout.rollout.observation import Request
from modelrollout.rollout.turn import Turn


def stepping(turn: Turn, requests: frozenset[Request]) -> None:
    """Progressing and Paused: fail a crashed canary; else hold, advance, or act on a request."""
    crash = crashes.canary_crash(turn)
    if crash is not None:
        # Even while paused: a person waiting to promote should not promote this.
        transitions.fail(turn, Reason.CANARY_CRASHED, crash)
        return
    _steps(turn, requests)


def _steps(turn: Turn, requests: frozenset[Request]) -> None:
    spec, status = turn.spec, turn.status
    if spec.rollout.paused:
        if status.pause_reason != Reason.PAUSED_BY_SPEC:
            turn.enter(Phase.PAUSED, Reason.PAUSED_BY_SPEC, step=status.current_step)
        return
    if status.pause_reason == Reason.PAUSED_BY_SPEC:
        # Unpaused: timers restart, the time spent paused does not count against deadlines.
        turn.update(step_started_at=turn.now)
        turn.enter(Phase.PROGRESSING, Reason.RESUMED, step=status.current_step)
        return
    if Request.PROMOTE_FULL in requests:
        transitions.promote(turn, Reason.MANUAL_PROMOTE)
        return
    if status.phase is Phase.PAUSED:
        _paused(turn, requests)
        return
    index = min(status.current_step or 0, len(spec.rollout.steps))
    if status.current_step is None or status.step_started_at is None:
        # Resuming from a status that lost its place: start timing the step from now.
        turn.update(current_step=index, step_started_at=turn.now)
    step = timing.current_step(spec, status.model_copy(update={"current_step": index}))
    if step is None:
        transitions.promote(turn, Reason.PROMOTING)
    elif Request.PROMOTE in requests and step.set_weight is None:
        # As in Argo Rollouts, promote skips the pause or analysis under way.
        turn.say(Reason.MANUAL_PROMOTE, step=index)
        advance(turn, index)
    elif step.set_weight is not None:
        if Request.PROMOTE in requests:
            turn.act(
                actions.RecordEvent(
                    reason=Reason.REQUEST_IGNORED,
                    message=f"The promote request was ignored: step {index} moves traffic only "
                    "onto ready pods. Use promote-full to skip all remaining steps.",
                    type="Warning",
                )
            )
        _set_weight(turn, index, step.set_weight)
    else:
        _holding_step(turn, index, step)


def _holding_step(turn: Turn, index: int, step: Step) -> None:
    """A step that holds the weight where it is: a pause, a shadow or an analysis."""
    if step.pause is not None:
        _pause(turn, index, step.pause.duration)
    elif step.shadow is not None:
        _shadow(turn, index, step.shadow)
    else:
        _analyse(turn, index)


def _paused(turn: Turn, requests: frozenset[Request]) -> None:
    index = turn.status.current_step or 0
    if Request.PROMOTE in requests:
        turn.say(Reason.MANUAL_PROMOTE, step=index)
        advance(turn, index)
    elif Request.RETRY in requests:
        turn.update(analysis=_fresh_run(turn, index), step_started_at=turn.now)
        turn.enter(Phase.PROGRESSING, Reason.RETRY)


def advance(turn: Turn, index: int) -> None:
    """Go on to the step after `index`."""
    turn.update(current_step=index + 1, step_started_at=turn.now, pause_reason=None)
    if turn.status.phase is not Phase.PROGRESSING:
        turn.update(phase=Phase.PROGRESSING, phase_since=turn.now)
        turn.moved = True
    announce(turn, index + 1)


def announce(turn: Turn, index: int) -> None:
    """Say what a timed pause step is waiting for, as it starts."""
    step = timing.current_step(turn.spec, turn.status.model_copy(update={"current_step": index}))
    if step is not None and step.pause is not None and step.pause.duration is not None:
        turn.say(Reason.TIMED_PAUSE, step=index, duration=step.pause.duration)


def _set_weight(turn: Turn, index: int, weight: int) -> None:
    if turn.status.canary_weight != weight:
        turn.update(canary_weight=weight, step_started_at=turn.now)
        turn.say(Reason.WEIGHT_SET, step=index, weight=weight)
    if turn.settled_at(weight):
        advance(turn, index)
        return
    # Weight moves only onto ready pods; the step waits for them, within the progress deadline.
    deadline = (turn.status.step_started_at or turn.now) + timing.progress_deadline(turn.spec)
    if turn.now >= deadline:
        canary = turn.obs.canary
        ready = "no" if canary is None else f"{canary.ready}/{canary.replicas}"
        detail = f"step {index}: {ready} canary pods ready for {weight}%"
        transitions.fail(turn, Reason.PROGRESS_DEADLINE_EXCEEDED, detail)
        return
    turn.poll()
    turn.wake(deadline)


def _pause(turn: Turn, index: int, length: str | None) -> None:
    if length is None:
        turn.enter(Phase.PAUSED, Reason.MANUAL_PAUSE, step=index)
        return
    until = (turn.status.step_started_at or turn.now) + duration(length)
    if turn.now >= until:
        advance(turn, index)
        return
    turn.wake(until)


def _fresh_run(turn: Turn, index: int) -> AnalysisStatus:
    # A run's counts start now, at the weight of this step; the evidence of the runs before it
    # (other weights) is carried in as log odds, never as counts. transitions.start clears it.
    old = turn.status.analysis
    return AnalysisStatus(
        step=index,
        runs=(old.runs if old is not None else 0) + 1,
        started_at=turn.now,
        carried_evidence=judge.carry_over(old),
    )


def _shadow(turn: Turn, index: int, shadow: ShadowStep) -> None:
    """Judge the canary on copies of live requests; it serves no client (its weight stays 0)."""
    spec, run = turn.spec, turn.status.analysis
    assert spec.analysis is not None, "the API requires spec.analysis for a shadow step"
    canary = turn.obs.canary
    if (run is None or run.step != index) and (canary is None or canary.ready < 1):
        # No round starts before a shadow pod can answer: it would only count no data.
        deadline = (turn.status.step_started_at or turn.now) + timing.progress_deadline(spec)
        if turn.now >= deadline:
            ready = "no" if canary is None else f"{canary.ready}/{canary.replicas}"
            detail = f"step {index}: {ready} shadow pods ready"
            transitions.fail(turn, Reason.PROGRESS_DEADLINE_EXCEEDED, detail)
            return
        turn.poll()
        turn.wake(deadline)
        return
    rounds = duration(shadow.duration) / duration(spec.analysis.interval)
    _analyse(turn, index, count=max(1, math.ceil(rounds)))


def _analyse(turn: Turn, index: int, *, count: int | None = None) -> None:
    spec, run = turn.spec, turn.status.analysis
    assert spec.analysis is not None, "the API requires spec.analysis for an analysis step"
    step = spec.rollout.steps[index]
    limits = judge.Limits.of(spec.analysis, step.analysis)
    if count is not None:
        limits = dataclasses.replace(limits, count=count)
    if run is None or run.step != index:
        turn.update(analysis=_fresh_run(turn, index))
        turn.say(Reason.ANALYSIS_RUNNING, step=index, round=0, count=limits.count, detail="")
        turn.wake(timing.next_measurement_at(spec, turn.status))
        return
    if run.phase is AnalysisPhase.RUNNING:
        run = _judge(turn, run, limits)
        turn.update(analysis=run)
    if run.phase is AnalysisPhase.SUCCESSFUL:
        turn.say(Reason.ANALYSIS_PASSED, step=index, detail=run.message)
        advance(turn, index)
    elif run.phase is AnalysisPhase.FAILED:
        transitions.fail(turn, Reason.ANALYSIS_FAILED, run.message)
    elif run.phase is AnalysisPhase.INCONCLUSIVE:
        turn.enter(Phase.PAUSED, Reason.ANALYSIS_INCONCLUSIVE, detail=run.message)
    else:
        turn.wake(timing.next_measurement_at(spec, turn.status))
        turn.wake(timing.measurement_overdue_at(spec, turn.status))


def _judge(turn: Turn, run: AnalysisStatus, limits: judge.Limits) -> AnalysisStatus:
    since = run.last_measured_at
    fresh = [m for m in turn.obs.measurements if since is None or m.measured_at > since]
    if fresh:
        judged = judge.judge_round(run=run, measurements=fresh, limits=limits)
    else:
        overdue = timing.measurement_overdue_at(turn.spec, turn.status)
        if overdue is None or turn.now < overdue:
            return run
        # No round arrived long after it was due: count it as an error so the run cannot hang.
        missing = judge.error(
            metric="*",
            message="no measurement was taken in time; check the operator can reach Prometheus",
            now=turn.now,
        )
        judged = judge.judge_round(run=run, measurements=[missing], limits=limits)
    if judged.phase is AnalysisPhase.RUNNING:
        turn.say(
            Reason.ANALYSIS_RUNNING,
            step=run.step,
            round=judged.rounds,
            count=limits.count,
            detail=judged.message,
        )
    return judged
