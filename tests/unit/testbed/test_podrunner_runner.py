"""The runner takes on pods bound to nodes, never reruns a finished one, and does the final delete."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.podrunner import kube, runner, settings

pytestmark = pytest.mark.unit


class FakeKube:
    server = ("127.0.0.1", 6443)

    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.patched: list[str] = []

    def patch_status(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.patched.append(name)

    def delete_now(self, namespace: str, name: str, uid: str) -> None:
        self.deleted.append(name)


def pod(
    name: str, *, node: str | None = "node-0", phase: str | None = None, deleting: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict[str, Any] = {
        "containers": [{"name": "c", "image": "nginx"}],
        "restartPolicy": "Never",
    }
    if node:
        spec["nodeName"] = node
    return {"metadata": meta, "spec": spec, "status": {"phase": phase} if phase else {}}


@pytest.fixture
def the_runner(tmp_path: Path) -> Any:
    cfg = settings.Settings(
        state_dir=tmp_path, project_images=frozenset({"model-rollout"}), entrypoint=()
    )
    r = runner.Runner(kube_api=FakeKube(), cfg=cfg)  # type: ignore[arg-type]
    yield r
    r.shutdown(timeout=5)


def test_unscheduled_pods_are_left_alone(the_runner: Any) -> None:
    the_runner.handle("ADDED", pod("p", node=None))
    assert not the_runner.workers


def test_a_terminating_pod_without_a_worker_is_deleted_at_once(the_runner: Any) -> None:
    the_runner.handle("MODIFIED", pod("p", phase="Succeeded", deleting=True))
    assert the_runner.kube.deleted == ["p"]
    assert not the_runner.workers


def test_a_finished_pod_is_never_run_again(the_runner: Any) -> None:
    the_runner.handle("ADDED", pod("p", phase="Failed"))
    assert not the_runner.workers
    job_pod = pod("q")
    job_pod["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "j"}]
    the_runner.handle("ADDED", job_pod)
    worker = the_runner.workers["uid-q"]
    worker.join(10)
    assert not worker.is_alive()
    # A stale event from before it finished must not start it again.
    the_runner.handle("MODIFIED", {**job_pod, "status": {"phase": "Running"}})
    assert "uid-q" not in the_runner.workers


def test_a_deleted_pod_gives_back_its_address(the_runner: Any) -> None:
    p = pod("r")
    p["spec"]["restartPolicy"] = "Always"
    the_runner.handle("ADDED", p)
    deadline = time.monotonic() + 10
    while the_runner.pool.address_of("uid-r") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert the_runner.pool.address_of("uid-r") is not None
    the_runner.handle("DELETED", p)
    assert the_runner.pool.address_of("uid-r") is None


class WatchingKube(FakeKube):
    """Lists nothing; its first watch is too old (410 Gone), its second delivers one pod, then stops."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop
        self.lists = 0
        self.watched_from: list[str] = []

    def list_pods(self) -> tuple[list[dict[str, Any]], str]:
        self.lists += 1
        return [], f"v{self.lists}"

    def watch_pods(self, resource_version: str, *, timeout: int) -> Iterator[dict[str, Any]]:
        self.watched_from.append(resource_version)
        if self.lists == 1:
            raise kube.GoneError("too old resource version")
        self.stop.set()
        yield {"type": "ADDED", "object": pod("late", node=None)}


def test_a_watch_that_is_gone_is_followed_by_a_fresh_list(tmp_path: Path) -> None:
    stop = threading.Event()
    api = WatchingKube(stop)
    cfg = settings.Settings(state_dir=tmp_path, project_images=frozenset(), entrypoint=())
    runner.Runner(kube_api=api, cfg=cfg).run(stop)  # type: ignore[arg-type]
    assert api.lists == 2
    assert api.watched_from == ["v1", "v2"]
