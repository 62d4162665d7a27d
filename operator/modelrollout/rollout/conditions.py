"""Standard conditions, derived from the new status and the observation at the end of each turn."""

from __future__ import annotations

from typing import Literal

from modelrollout.api import AnalysisPhase, ConditionType, Phase, Reason, message, set_condition
from modelrollout.rollout.turn import ACTIVE, Turn

Status = Literal["True", "False", "Unknown"]


def refresh(turn: Turn) -> None:
    status = turn.status
    conditions = list(status.conditions)

    def put(kind: ConditionType, state: Status, reason: str, text: str) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions,
            type=kind.value,
            status=state,
            reason=reason,
            message=text,
            now=turn.now,
            observed_generation=turn.obs.generation,
        )

    last = turn.reason.value if turn.reason is not None else None
    old = {c.type: c for c in conditions}
    progressing = old.get(ConditionType.PROGRESSING.value)
    reason = last or (progressing.reason if progressing else status.phase.value)
    put(ConditionType.PROGRESSING, _flag(status.phase in ACTIVE), reason, status.message)
    paused = status.phase is Phase.PAUSED
    put(ConditionType.PAUSED, _flag(paused), status.pause_reason or "NotPaused", "")

    stable = turn.obs.stable
    ready = 0 if stable is None else stable.ready
    wanted = 0 if stable is None else stable.replicas
    up = Reason.STABLE_READY if ready > 0 else Reason.STABLE_NOT_READY
    text = message(up, stable=status.stable_version or "none", ready=ready, wanted=wanted)
    put(ConditionType.AVAILABLE, _flag(ready > 0), up.value, text)

    validation = status.validation
    if validation is not None:
        state: Status = "Unknown" if validation.passed is None else _flag(validation.passed)
        why = {"Unknown": "Running", "True": "Passed", "False": "Failed"}[state]
        put(ConditionType.VALIDATED, state, why, validation.message)
    run = status.analysis
    if run is not None:
        verdicts: dict[AnalysisPhase, Status] = {
            AnalysisPhase.SUCCESSFUL: "True",
            AnalysisPhase.FAILED: "False",
        }
        verdict = verdicts.get(run.phase, "Unknown")
        put(ConditionType.ANALYSIS_PASSING, verdict, run.phase.value, run.message)
    turn.update(conditions=conditions)


def _flag(value: bool) -> Status:
    return "True" if value else "False"
