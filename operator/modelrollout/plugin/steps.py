"""The steps list of `kubectl model-rollout status`: each step in words, the current one marked.

Pure. Steps are numbered from 0, as status.currentStep and the operator's messages number them.
"""

from __future__ import annotations

from datetime import datetime

from modelrollout import api
from modelrollout.plugin import text

DONE, CURRENT, TODO = "[x]", "[>]", "[ ]"


def describe(step: api.Step, spec: api.ModelDeploymentSpec) -> str:
    """One step as a person would say it: `setWeight 20%`, `pause 30s`, `analysis 3 rounds`."""
    if step.set_weight is not None:
        return f"setWeight {step.set_weight}%"
    if step.pause is not None:
        return f"pause {step.pause.duration or 'until promoted'}"
    analysis = spec.analysis
    count = (step.analysis.count if step.analysis else None) or (analysis.count if analysis else 1)
    every = f" every {analysis.interval}" if analysis is not None else ""
    return f"analysis {count} round{'s' if count != 1 else ''}{every}"


def section(
    spec: api.ModelDeploymentSpec | None,
    status: api.ModelDeploymentStatus,
    *,
    now: datetime,
    stepping: bool,
) -> str:
    """The `Steps:` block; `stepping` says the rollout stands on status.currentStep right now."""
    if spec is None:
        return ""
    all_steps = spec.rollout.steps
    if not all_steps:
        return text.field("Steps", "none (a validated version is promoted at once)")
    at = status.current_step if status.canary_version is not None else None
    done = min(at, len(all_steps)) if at is not None else 0
    if at is None:
        head = text.field("Steps", f"{len(all_steps)}, no rollout under way")
    else:
        head = text.field("Steps", f"{done}/{len(all_steps)} done")
    if spec.rollout.paused:
        head += " (spec.rollout.paused is true)"
    lines = [head]
    for index, step in enumerate(all_steps):
        current = stepping and index == at
        mark = CURRENT if current else DONE if at is not None and index < done else TODO
        note = _progress(step, status, now=now) if current else ""
        lines.append(f"  {mark} {index:>2}  {describe(step, spec)}{note}")
    return "\n".join(lines)


def _progress(step: api.Step, status: api.ModelDeploymentStatus, *, now: datetime) -> str:
    """How far the current step is: time left in a timed pause, the wait for a person."""
    started = status.step_started_at
    if step.pause is not None:
        if step.pause.duration is None:
            return "   <- waiting for `kubectl model-rollout promote`"
        if started is None:
            return ""
        left = started + api.parse_duration(step.pause.duration) - now
        return f"   <- {text.age(left)} left"
    if step.analysis is not None and status.analysis is not None:
        return f"   <- round {status.analysis.rounds}, {status.analysis.phase.value}"
    if step.set_weight is not None:
        return f"   <- actual {text.percent(status.actual_canary_weight)}"
    return ""
