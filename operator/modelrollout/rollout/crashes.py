"""Which ended canary containers fail a rollout at once, instead of after the progress deadline.

Called by the canary steps. Pure: the observation carries the containers' states.
"""

from __future__ import annotations

from modelrollout.api import Reason
from modelrollout.rollout.observation import ContainerDeath
from modelrollout.rollout.turn import Turn

# The kernel killed it for memory: it will again at the same load, and each kill drops the requests
# in flight at the canary's share of traffic. Waiting for the progress deadline helps no one.
OOM_KILLED = "OOMKilled"


def fatal(death: ContainerDeath) -> bool:
    """OOM-killed, or crashing so often the kubelet holds it back (CrashLoopBackOff)."""
    return death.reason == OOM_KILLED or death.crash_looping


def describe(death: ContainerDeath) -> str:
    looping = ", now in CrashLoopBackOff" if death.crash_looping else ""
    return (
        f"container {death.container} of pod {death.pod} was {death.reason} "
        f"(exit code {death.exit_code}, {death.restarts} restarts{looping})"
    )


def canary_crash(turn: Turn) -> str | None:
    """What fails the canary now, or None. A rollout already awaiting its rollback is left there."""
    canary, status = turn.obs.canary, turn.status
    if canary is None or status.pause_reason == Reason.AWAITING_ROLLBACK:
        return None
    for death in canary.deaths:
        if death.version == status.canary_version and fatal(death):
            return describe(death)
    return None
