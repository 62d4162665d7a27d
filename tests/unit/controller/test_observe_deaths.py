"""observe.deaths: ended containers read from pod status as a real kubelet writes it."""

from __future__ import annotations

from typing import Any

import pytest

from modelrollout import rollout
from modelrollout.controller import observe

pytestmark = pytest.mark.unit


def pod(name: str, *statuses: dict[str, Any], deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"modelrollout.io/version": "2"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"containerStatuses": list(statuses)}}


RESTARTED_AFTER_OOM = {
    "name": "server",
    "restartCount": 1,
    "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}},
    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
}
LOOPING = {
    "name": "server",
    "restartCount": 4,
    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    "lastState": {"terminated": {"reason": "Error", "exitCode": 1}},
}
RUNNING = {"name": "server", "restartCount": 0, "state": {"running": {}}, "lastState": {}}


def test_a_restarted_oom_killed_container_and_a_crash_loop_are_read_a_running_one_is_not() -> None:
    found = observe.deaths((pod("a", RESTARTED_AFTER_OOM), pod("b", LOOPING), pod("c", RUNNING)))
    assert found == (
        rollout.ContainerDeath("a", "server", "2", "OOMKilled", 137, 1),
        rollout.ContainerDeath("b", "server", "2", "Error", 1, 4, crash_looping=True),
    )


def test_a_pod_being_deleted_is_stopping_on_purpose() -> None:
    assert observe.deaths((pod("a", LOOPING, deleting=True),)) == ()
