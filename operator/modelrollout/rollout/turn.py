"""One decision in the making: the status being rewritten, the actions and the next wake-up time.

Local to a single `decide` call, so the brain stays a pure function of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modelrollout.api import (
    HistoryEntry,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelSpec,
    Outcome,
    Phase,
    Reason,
    add_history,
    message,
)
from modelrollout.rollout.actions import Action, RecordEvent
from modelrollout.rollout.observation import Observation

# A rollout is under way in these phases: a new spec version supersedes it, abort applies.
ACTIVE = frozenset(
    {Phase.VALIDATING, Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING, Phase.ROLLING_BACK}
)

# While waiting on the cluster (pods, a Job, the router), look again this soon: the controller
# need not watch every child object for the rollout to move on promptly.
POLL = timedelta(seconds=10)


@dataclass
class Turn:
    spec: ModelDeploymentSpec
    obs: Observation
    now: datetime
    status: ModelDeploymentStatus
    actions: list[Action] = field(default_factory=list)
    wakes: list[datetime] = field(default_factory=list)
    reason: Reason | None = None
    """The last reason given in this turn (for conditions)."""
    moved: bool = False
    """Phase or step changed: decide again soon instead of waiting for a timer."""

    @property
    def target(self) -> ModelSpec:
        return self.spec.model

    @property
    def canary_model(self) -> ModelSpec | None:
        """The model being rolled out: spec.model, when it is the canary version in status."""
        return self.spec.model if self.spec.model.version == self.status.canary_version else None

    def update(self, **fields: Any) -> None:
        if "current_step" in fields and fields["current_step"] != self.status.current_step:
            self.moved = True
        self.status = self.status.model_copy(update=fields)

    def act(self, *todo: Action) -> None:
        self.actions.extend(todo)

    def say(self, reason: Reason, *, warning: bool = False, **values: Any) -> str:
        """Record an event for `reason` and make it the status message."""
        values.setdefault("name", self.obs.name)
        values.setdefault("version", self.status.canary_version)
        values.setdefault("stable", self.status.stable_version)
        text = message(reason, **values)
        event = RecordEvent(reason=reason, message=text, type="Warning" if warning else "Normal")
        self.act(event)
        self.update(message=text)
        self.reason = reason
        return text

    def enter(self, phase: Phase, reason: Reason, *, warning: bool = False, **values: Any) -> None:
        """Move to `phase`, explaining why."""
        if phase is not self.status.phase:
            self.moved = True
            self.update(phase=phase, phase_since=self.now)
        self.update(pause_reason=reason if phase is Phase.PAUSED else None)
        self.say(reason, warning=warning, **values)

    def record(self, *, version: str, outcome: Outcome, reason: Reason) -> None:
        entry = HistoryEntry(
            version=version,
            outcome=outcome,
            reason=reason,
            message=self.status.message,
            time=self.now,
        )
        self.update(history=add_history(self.status.history, entry))

    def wake(self, at: datetime | None) -> None:
        if at is not None:
            self.wakes.append(at)

    def poll(self) -> None:
        """Waiting on the cluster: ask to be called again soon."""
        self.wake(self.now + POLL)

    def settled_at(self, weight: int) -> bool:
        """The router reports traffic settled at `weight`."""
        traffic = self.obs.traffic
        return traffic is not None and traffic.weight == weight and traffic.settled
