"""The runner: watches every pod bound to a node and gives each a worker; relists on 410 Gone.

Also the kubelet's last word for pods it no longer runs: a terminating pod without a worker is
deleted at once. Started by `python -m testbed.podrunner`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from testbed.podrunner import ipam, kube, pod, settings

log = logging.getLogger(__name__)
WATCH_SECONDS = (
    60  # the server ends each watch after this; a fresh one resumes from the last version
)
TERMINAL = {"Succeeded", "Failed"}


class Runner:
    def __init__(self, *, kube_api: kube.Kube, cfg: settings.Settings) -> None:
        self.kube = kube_api
        self.cfg = cfg
        self.pool = ipam.IPPool(cfg.pod_network)
        self.workers: dict[str, pod.PodWorker] = {}
        self._done: set[str] = set()  # pods whose worker has finished: never started twice
        self._lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        """Lists, then watches, until stop is set; any failure is logged and followed by a relist."""
        pause = 0.5
        while not stop.is_set():
            try:
                items, version = self.kube.list_pods()
                self._sync(items)
                pause = 0.5
                while not stop.is_set():
                    for event in self.kube.watch_pods(version, timeout=WATCH_SECONDS):
                        version = event["object"]["metadata"].get("resourceVersion") or version
                        self.handle(event["type"], event["object"])
                        if stop.is_set():
                            return
            except kube.GoneError:
                log.info("pod watch expired (410 Gone); listing again")
            except (ApiException, HTTPError, OSError, RuntimeError, ValueError) as e:
                log.warning("pod watch failed (%s); listing again in %.1fs", e, pause)
                stop.wait(pause)
                pause = min(pause * 2, 10.0)

    def _sync(self, items: list[dict[str, Any]]) -> None:
        present = {p["metadata"]["uid"] for p in items}
        for p in items:
            ip = (p.get("status") or {}).get("podIP")
            # Addresses of pods that already have one stay taken, so no two pods share one.
            if ip and p.get("spec", {}).get("nodeName"):
                self.pool.allocate(p["metadata"]["uid"], prefer=ip)
            self.handle("ADDED", p)
        with self._lock:
            vanished = [uid for uid in self.workers if uid not in present]
        for uid in vanished:
            self.handle("DELETED", self.workers[uid].pod)

    def handle(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "BOOKMARK" or not obj.get("spec", {}).get("nodeName"):
            return
        meta = obj["metadata"]
        uid = meta["uid"]
        with self._lock:
            worker = self.workers.get(uid)
        if kind == "DELETED":
            if worker is not None:
                worker.gone()
            self.pool.release(uid)
            self._done.discard(uid)
            return
        if worker is not None and worker.update(obj):
            return
        # A worker that just finished has not always been recorded as done yet.
        finished = worker is not None
        if meta.get("deletionTimestamp"):
            # Nothing of ours runs for it (finished, or never started): the kubelet's final delete.
            try:
                self.kube.delete_now(meta["namespace"], meta["name"], uid)
            except (ApiException, HTTPError, OSError) as e:
                log.warning(
                    "pod %s/%s: final delete failed: %s", meta["namespace"], meta["name"], e
                )
            return
        if finished or uid in self._done or (obj.get("status") or {}).get("phase") in TERMINAL:
            return
        worker = pod.PodWorker(
            obj, kube_api=self.kube, cfg=self.cfg, pool=self.pool, on_exit=self._finished
        )
        with self._lock:
            self.workers[uid] = worker
        log.info("pod %s/%s: taking it on", meta["namespace"], meta["name"])
        worker.start()

    def _finished(self, worker: pod.PodWorker) -> None:
        with self._lock:
            self.workers.pop(worker.uid, None)
            self._done.add(worker.uid)

    def shutdown(self, *, timeout: float = 10.0) -> None:
        """Stops every process the workers started (they do not touch the pods' status)."""
        with self._lock:
            workers = list(self.workers.values())
        for w in workers:
            w.shutdown()
        deadline = time.monotonic() + timeout
        for w in workers:
            w.join(max(0.1, deadline - time.monotonic()))
