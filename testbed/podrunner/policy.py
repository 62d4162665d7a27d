"""restartPolicy and back-off: whether an exited container starts again, and after how long.

Pure; the pod worker asks after each exit. Back-off is the kubelet's shape, faster (see settings).
"""

from __future__ import annotations


def should_restart(*, init: bool, policy: str, exit_code: int) -> bool:
    """An init container is retried only on failure (unless Never); an app container per the policy."""
    if init:
        return exit_code != 0 and policy != "Never"
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def backoff(*, restarts: int, base: float, cap: float) -> float:
    """Delay before restart number `restarts` (1-based): the first is immediate, then base, 2*base,
    ..., cap, as the kubelet's back-off only starts once a container has crashed before."""
    if restarts <= 1:
        return 0.0
    return float(min(base * 2 ** (restarts - 2), cap))
