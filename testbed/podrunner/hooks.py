"""preStop hooks, run before a deleted pod's containers get SIGTERM (exec, httpGet, tcpSocket, sleep).

Called by the pod worker; a hook's failure is logged and the container is stopped all the same.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from testbed.podrunner import probe_exec

log = logging.getLogger(__name__)


def run_pre_stop(
    hooks: Sequence[tuple[str, Mapping[str, Any], probe_exec.Target]], *, grace: float
) -> float:
    """Runs every container's hook at once and waits for them, at most grace seconds.
    Returns the time they took, which the kubelet counts against the grace period."""
    start = time.monotonic()
    threads = [
        threading.Thread(
            target=_one, args=(name, handler, target, grace), name=f"prestop-{name}", daemon=True
        )
        for name, handler, target in hooks
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, start + grace - time.monotonic()))
    return time.monotonic() - start


def _one(name: str, handler: Mapping[str, Any], target: probe_exec.Target, grace: float) -> None:
    if "sleep" in handler:
        time.sleep(min(float(handler["sleep"].get("seconds", 0)), grace))
        return
    ok, message = probe_exec.run(handler, target=target, timeout=grace)
    if not ok:
        log.warning("preStop hook of container %s failed: %s", name, message)
