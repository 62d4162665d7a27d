"""Probe decisions as the kubelet makes them: defaults, thresholds, and what a result means.

Pure: a ProbeTracker is fed raw outcomes and says when the probe's result flips.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

READINESS, LIVENESS, STARTUP = "readiness", "liveness", "startup"


@dataclass(frozen=True)
class ProbeSpec:
    kind: str
    handler: Mapping[str, Any]
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


def spec_from(kind: str, probe: Mapping[str, Any]) -> ProbeSpec:
    """The container's probe with the API's defaults; liveness and startup need one success only."""
    handlers = {k: v for k, v in probe.items() if k in {"httpGet", "tcpSocket", "exec", "grpc"}}
    if len(handlers) != 1:
        raise ValueError(
            f"{kind} probe must have exactly one of httpGet, tcpSocket, exec, grpc; got {sorted(handlers)}"
        )
    success = int(probe.get("successThreshold") or 1)
    if kind != READINESS and success != 1:
        raise ValueError(f"{kind} probe successThreshold must be 1, got {success}")
    return ProbeSpec(
        kind=kind,
        handler=handlers,
        initial_delay=float(probe.get("initialDelaySeconds") or 0),
        period=float(probe.get("periodSeconds") or 10),
        timeout=float(probe.get("timeoutSeconds") or 1),
        success_threshold=success,
        failure_threshold=int(probe.get("failureThreshold") or 3),
    )


def initial_result(kind: str) -> bool | None:
    """Before any probe has run: not ready, alive (no restarts yet), not started (unknown)."""
    return {READINESS: False, LIVENESS: True, STARTUP: None}[kind]


class ProbeTracker:
    """Counts consecutive outcomes; the result flips only once a threshold is met."""

    def __init__(self, spec: ProbeSpec) -> None:
        self.spec = spec
        self.result = initial_result(spec.kind)
        self._last: bool | None = None
        self._count = 0

    def observe(self, ok: bool) -> bool | None:
        """Records one outcome; returns the new result when it changed, else None."""
        self._count = self._count + 1 if ok == self._last else 1
        self._last = ok
        needed = self.spec.success_threshold if ok else self.spec.failure_threshold
        if self._count < needed or self.result == ok:
            return None
        self.result = ok
        return ok


def holds_after(kind: str, result: bool) -> bool:
    """Whether the probe keeps running after this result: a failed liveness or startup probe stops
    (the container is restarted and gets new probes), and so does a startup probe that succeeded."""
    return kind == READINESS or (kind == LIVENESS and result)
