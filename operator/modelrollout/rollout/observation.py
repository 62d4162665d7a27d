"""What the controller read from the cluster and Prometheus, handed to `decide` as one value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from modelrollout.api import Measurement


class Request(StrEnum):
    """Manual control, read from annotations (`modelrollout.io/<kind>: <token>`)."""

    PROMOTE = "promote"
    """Go past what holds the rollout now: a pause (timed or not), an analysis, a failure.
    A weight step is never skipped: its weight waits for ready pods."""
    PROMOTE_FULL = "promote-full"
    """Skip the remaining steps and promote."""
    ABORT = "abort"
    """Move all traffic back to the stable version."""
    RETRY = "retry"
    """Run the current analysis again, or start a rolled-back or failed version over."""


@dataclass(frozen=True)
class ManualRequest:
    kind: Request
    token: str
    """The annotation's value (e.g. a timestamp); each token is acted on once."""


@dataclass(frozen=True)
class ContainerDeath:
    """A container of a track's pod that the kubelet saw end (now or before its last restart)."""

    pod: str
    container: str
    version: str | None
    """The model version of the pod (its label)."""
    reason: str
    """The termination reason the kubelet reports: OOMKilled, Error, Completed, ..."""
    exit_code: int
    restarts: int
    crash_looping: bool = False
    """The kubelet holds the container back before the next restart (CrashLoopBackOff)."""


@dataclass(frozen=True)
class Workload:
    """A track's Deployment as observed."""

    version: str | None
    """The model version of its pod template."""
    replicas: int
    """Desired replicas."""
    ready: int
    updated: int
    """Pods already on the current template."""
    deaths: tuple[ContainerDeath, ...] = ()
    """Its pods' containers that ended, as their status says (read for the canary only)."""

    def rolled_out(self, version: str) -> bool:
        """Every desired pod runs `version` and is ready."""
        return (
            self.version == version
            and self.replicas >= 1
            and self.updated >= self.replicas
            and self.ready >= self.replicas
        )


@dataclass(frozen=True)
class Traffic:
    """What the router reports for the weight in status (the one last requested)."""

    weight: int
    """The requested weight the router planned for."""
    settled: bool
    """Traffic really is where that weight puts it (the pods that carry it are ready)."""
    actual: float | None = None
    """The canary's actual share of requests, percent."""


@dataclass(frozen=True)
class ValidationResult:
    """The validation Job of a version, if one exists."""

    version: str
    state: Literal["running", "passed", "failed"]
    message: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    name: str
    """The ModelDeployment's name, for messages that tell a person what to run."""
    generation: int | None = None
    stable: Workload | None = None
    canary: Workload | None = None
    traffic: Traffic | None = None
    validation: ValidationResult | None = None
    measurements: tuple[Measurement, ...] = ()
    """One analysis round taken now, when `timing.measurement_due` said so; otherwise empty."""
    requests: tuple[ManualRequest, ...] = ()
