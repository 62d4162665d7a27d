"""Watch-fed copies of the objects the operator owns, so a turn reads memory rather than the API server.

One list-then-watch per kind (per watched namespace, or cluster-wide) keeps a Store of the
Deployments, Services, validation Jobs, their pods and canary pods that carry our labels; every change calls
`on_change(namespace, md_name)`, which wakes the ModelDeployment it belongs to. Until a kind's first
list is in, Kube reads that kind from the API server as before. Started by the controller.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import dynamic
from kubernetes import watch as k8s_watch

from modelrollout.k8s import names

log = logging.getLogger(__name__)
# A watch the API server keeps open this long is renewed from its last resourceVersion.
WATCH_TIMEOUT_SECONDS = 300
RETRY_SECONDS = 2.0
_OURS = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
_VALIDATION = f"{names.LABEL_ROLE}=validation"


@dataclass(frozen=True)
class Watched:
    api_version: str
    kind: str
    label_selector: str


WATCHED = (
    Watched("apps/v1", "Deployment", _OURS),
    Watched("v1", "Service", _OURS),
    Watched("batch/v1", "Job", f"{_OURS},{_VALIDATION}"),
    # Validation pods (their verdict) and canary pods (containers that died): not the stable's.
    Watched("v1", "Pod", f"{_OURS},{names.LABEL_TRACK}!=stable"),
)
_KINDS = {w.kind for w in WATCHED}


def _slim(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """What a turn reads of the object: managed fields (often half its size) are dropped."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    out = {**obj, "metadata": meta}
    if kind == "Pod":
        # A pod is read for its status only: a verdict, or containers that died.
        out = {"metadata": meta, "status": obj.get("status") or {}}
    return out


def _rv(obj: dict[str, Any]) -> int | None:
    raw = (obj.get("metadata") or {}).get("resourceVersion")
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


class Store:
    """The latest copy of each watched object, by kind, namespace and name; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._synced: set[tuple[str, str | None]] = set()
        self._fed: set[str] = set()

    def feed(self, kind: str) -> None:
        """Objects of kind are put here by a watch of the caller's (kopf's): Kube reads them from here
        when they are held and from the API server when not."""
        self._fed.add(kind)

    def fed(self, kind: str) -> bool:
        return kind in self._fed

    def covers(self, kind: str, namespace: str | None) -> bool:
        if kind not in _KINDS or namespace is None:
            return False
        with self._lock:
            return (kind, None) in self._synced or (kind, namespace) in self._synced

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((kind, namespace), {}).get(name)
        return None if obj is None else copy.deepcopy(obj)

    def select(self, kind: str, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            found = [
                o
                for o in self._objects.get((kind, namespace), {}).values()
                if all((o["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
            ]
        return copy.deepcopy(found)

    def put(self, kind: str, obj: dict[str, Any]) -> None:
        """Keeps obj unless a newer copy is held (a watch event can trail our own write)."""
        meta = obj["metadata"]
        with self._lock:
            bucket = self._objects.setdefault((kind, meta["namespace"]), {})
            held = bucket.get(meta["name"])
            new, old = _rv(obj), None if held is None else _rv(held)
            if held is not None and new is not None and old is not None and new < old:
                return
            bucket[meta["name"]] = _slim(kind, obj)

    def remove(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            bucket = self._objects.get((kind, namespace))
            if bucket is not None:
                bucket.pop(name, None)
                if not bucket:
                    del self._objects[(kind, namespace)]

    def replace(self, kind: str, namespace: str | None, items: list[dict[str, Any]]) -> None:
        """A fresh list: everything of kind in namespace (all when None) is what it says."""
        with self._lock:
            for key in [k for k in self._objects if k[0] == kind and namespace in (None, k[1])]:
                del self._objects[key]
            self._synced.add((kind, namespace))
        for obj in items:
            self.put(kind, obj)

    def size(self) -> int:
        with self._lock:
            return sum(len(b) for b in self._objects.values())


def parse_selector(selector: str) -> dict[str, str] | None:
    """`a=b,c=d` as a dict; None for anything else (set-based selectors are not served from memory)."""
    out = {}
    for part in filter(None, selector.split(",")):
        key, eq, value = part.partition("=")
        if not eq or value.startswith("=") or key.endswith("!"):
            return None
        out[key] = value
    return out


class Informers:
    """The list-then-watch threads feeding a Store; `stop` ends them at their next event or timeout."""

    def __init__(
        self,
        dyn: dynamic.DynamicClient,
        *,
        store: Store,
        namespaces: Sequence[str],
        on_change: Callable[[str, str], None],
    ) -> None:
        self._dyn, self._store, self._on_change = dyn, store, on_change
        self._namespaces: Sequence[str | None] = list(namespaces) or [None]
        self._stop = threading.Event()
        self._watchers: list[k8s_watch.Watch] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for w in WATCHED:
            for ns in self._namespaces:
                t = threading.Thread(
                    target=self._run, args=(w, ns), name=f"informer-{w.kind}-{ns}", daemon=True
                )
                t.start()
                self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for w in list(self._watchers):
            w.stop()  # type: ignore[no-untyped-call]

    def _changed(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        md = (meta.get("labels") or {}).get(names.LABEL_NAME)
        if md and meta.get("namespace"):
            self._on_change(meta["namespace"], md)

    def _run(self, w: Watched, namespace: str | None) -> None:
        while not self._stop.is_set():
            try:
                self._list_and_watch(w, namespace)
            except Exception:  # a dropped watch or an API error: list again after a pause
                log.warning("watch of %s in %s failed; listing again", w.kind, namespace or "all")
                log.debug("watch failure", exc_info=True)
            self._stop.wait(RETRY_SECONDS)

    def _list_and_watch(self, w: Watched, namespace: str | None) -> None:
        res = self._dyn.resources.get(api_version=w.api_version, kind=w.kind)
        listed = res.get(namespace=namespace, label_selector=w.label_selector).to_dict()
        items = [dict(i) for i in listed.get("items") or []]
        for i in items:
            i.setdefault("kind", w.kind)
        self._store.replace(w.kind, namespace, items)
        for obj in items:
            self._changed(obj)
        rv = listed["metadata"]["resourceVersion"]
        while not self._stop.is_set():
            watcher = k8s_watch.Watch()  # type: ignore[no-untyped-call]
            self._watchers.append(watcher)
            try:
                for event in self._dyn.watch(  # type: ignore[no-untyped-call]
                    res,
                    namespace=namespace,
                    label_selector=w.label_selector,
                    resource_version=rv,
                    timeout=WATCH_TIMEOUT_SECONDS,
                    watcher=watcher,
                    allow_watch_bookmarks=True,
                ):
                    kind, obj = event["type"], event["raw_object"]
                    if kind == "ERROR":
                        return  # e.g. 410 Gone: the resourceVersion is too old; list again
                    rv = obj["metadata"]["resourceVersion"]
                    if kind == "BOOKMARK":
                        continue
                    meta = obj["metadata"]
                    if kind == "DELETED":
                        self._store.remove(w.kind, meta["namespace"], meta["name"])
                    else:
                        self._store.put(w.kind, obj)
                    self._changed(obj)
            finally:
                self._watchers.remove(watcher)
