"""What the kubelet reported of some pods, kept from a watch started before the change under test.

A poll can miss a container's end: the operator may scale a crashed canary to zero and the pod be
gone between two `kubectl get`s. A watch from the list's resourceVersion gets every status the API
server held, in order, DELETED events' last objects included, so what the kubelet reported stays on
record here. Used by tests/integration/test_real_node.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

WATCH_S = 5  # one watch request's span; a stop is seen within it


def terminations(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container end the pod's status shows (state and lastState), with pod and container."""
    name = (pod.get("metadata") or {}).get("name", "")
    found = []
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        for where in ("state", "lastState"):
            ended = (c.get(where) or {}).get("terminated")
            if ended:
                found.append({"pod": name, "container": c.get("name", ""), **ended})
    return found


class PodHistory:
    """Watches the pods of `namespace` matching `selector` from a background thread until stop()."""

    def __init__(self, api_client: Any, *, namespace: str, selector: str) -> None:
        from kubernetes import client

        self._core = client.CoreV1Api(api_client)
        self._namespace, self._selector = namespace, selector
        self._lock = threading.Lock()
        self._ended: list[dict[str, Any]] = []
        self.events: list[tuple[str, str]] = []
        """(event type, pod name) in the order the API server sent them."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    def __enter__(self) -> PodHistory:
        # Listed here, before the caller goes on: the watch resumes from this version, so nothing
        # that happens after __enter__ returns can be missed, however late the thread connects.
        version = self._list()
        self._thread = threading.Thread(target=self._run, args=(version,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=WATCH_S * 3)
        if self.failure is not None and exc[0] is None:
            raise RuntimeError(f"the pod watch failed: {self.failure}") from self.failure

    def ended(self, *, reason: str) -> list[dict[str, Any]]:
        """The container ends seen with `reason` (e.g. OOMKilled), each once, first seen first."""
        with self._lock:
            return [e for e in self._ended if e.get("reason") == reason]

    def _record(self, kind: str, pods: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for pod in pods:
                self.events.append((kind, (pod.get("metadata") or {}).get("name", "")))
                for ended in terminations(pod):
                    if ended not in self._ended:
                        self._ended.append(ended)

    def _list(self) -> str:
        listed = self._core.list_namespaced_pod(
            self._namespace, label_selector=self._selector, _preload_content=False
        )
        body = json.loads(listed.data)
        self._record("LISTED", body.get("items") or [])
        return str(body["metadata"]["resourceVersion"])

    def _run(self, version: str) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        try:
            while not self._stop.is_set():
                stream = watch.Watch()
                try:
                    for event in stream.stream(
                        self._core.list_namespaced_pod,
                        self._namespace,
                        label_selector=self._selector,
                        resource_version=version,
                        allow_watch_bookmarks=True,
                        timeout_seconds=WATCH_S,
                        deserialize=False,  # the JSON as sent; no model objects to build
                    ):
                        raw = event["object"]
                        version = raw.get("metadata", {}).get("resourceVersion", version)
                        if event["type"] in {"ADDED", "MODIFIED", "DELETED"}:
                            self._record(event["type"], [raw])
                        if self._stop.is_set():
                            stream.stop()
                except ApiException as e:
                    if e.status != 410:
                        raise
                    # The version was compacted away: list again (the pods now) and go on.
                    version = self._list()
        except BaseException as e:  # surfaced by __exit__: a dead watch must not pass a test
            self.failure = e
