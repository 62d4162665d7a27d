"""The pod watch's record (tests/integration/pod_history.py): every container end a pod's status
showed is kept once, a DELETED pod's last status included, whatever came after."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.integration import pod_history

pytestmark = pytest.mark.unit


def pod(name: str, *statuses: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"containerStatuses": list(statuses)}}


OOM = {"reason": "OOMKilled", "exitCode": 137}
RUNNING = {"name": "server", "state": {"running": {}}, "restartCount": 0}
KILLED = {"name": "server", "state": {"terminated": OOM}, "restartCount": 0}
RESTARTED = {"name": "server", "state": {"running": {}}, "lastState": {"terminated": OOM}}


def test_terminations_read_state_and_last_state() -> None:
    assert pod_history.terminations(pod("a", RUNNING)) == []
    assert pod_history.terminations(pod("a", KILLED)) == [
        {"pod": "a", "container": "server", **OOM}
    ]
    assert pod_history.terminations(pod("a", RESTARTED)) == [
        {"pod": "a", "container": "server", **OOM}
    ]
    assert pod_history.terminations({"metadata": {"name": "b"}, "status": {}}) == []


def test_an_end_seen_once_stays_on_record_after_the_pod_is_gone() -> None:
    seen = pod_history.PodHistory(client.ApiClient(), namespace="ns", selector="a=b")
    seen._record("ADDED", [pod("a", RUNNING)])
    seen._record("MODIFIED", [pod("a", KILLED)])
    seen._record("MODIFIED", [pod("a", RESTARTED)])  # the same end, now as lastState
    seen._record("DELETED", [pod("a", RESTARTED)])
    assert seen.ended(reason="OOMKilled") == [{"pod": "a", "container": "server", **OOM}]
    assert seen.ended(reason="Error") == []
    assert [kind for kind, _ in seen.events] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]
