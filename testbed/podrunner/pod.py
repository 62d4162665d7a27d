"""A pod worker: one thread per pod, taking it from Pending through its containers' lives to its end.

Started by the runner for each pod bound to a node; it owns the pod's status and its final delete.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from testbed.podrunner import (
    container,
    hooks,
    images,
    ipam,
    kube,
    launch,
    policy,
    probe_exec,
    process,
    settings,
    status,
    volumes,
)

log = logging.getLogger(__name__)
TICK = 0.2  # seconds between looks at the processes when nothing wakes the worker sooner
RETRY = 2.0  # seconds before retrying a container whose config or volumes could not be set up


def now() -> datetime:
    return datetime.now(UTC)


class PodWorker(threading.Thread):
    def __init__(
        self,
        pod: dict[str, Any],
        *,
        kube_api: kube.Kube,
        cfg: settings.Settings,
        pool: ipam.IPPool,
        on_exit: Callable[[PodWorker], None],
    ) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.pod = pod
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.pod_name: str = meta["name"]
        self.kube = kube_api
        self.cfg = cfg
        self.pool = pool
        self._on_exit = on_exit
        self.lock = threading.Lock()
        self._wake = threading.Event()
        self._gone = False
        self._shutdown = False
        self.finished = False
        spec = pod["spec"]
        self.restart_policy: str = spec.get("restartPolicy") or "Always"
        has_init = bool(spec.get("initContainers"))
        self.job_pod = any(o.get("kind") == "Job" for o in meta.get("ownerReferences") or [])

        def run(c: dict[str, Any], *, init: bool) -> container.ContainerRun:
            simulated = not images.is_project_image(c.get("image", ""), cfg.project_images)
            waiting = "PodInitializing" if has_init and not init else "ContainerCreating"
            return container.ContainerRun(c, init=init, simulated=simulated, waiting=waiting)

        self.init = [run(c, init=True) for c in spec.get("initContainers") or []]
        self.app = [run(c, init=False) for c in spec.get("containers") or []]
        self.pod_ip = ""
        self.start_time = now()
        self._published: dict[str, Any] | None = None
        self._conditions: list[dict[str, Any]] = list(
            (pod.get("status") or {}).get("conditions") or []
        )
        self._prepared: volumes.Prepared | None = None
        self._volume_error = ""
        self._volumes_retry_at = 0.0
        self._publish_not_before = 0.0

    # --- called from the runner's thread ---

    def update(self, pod: dict[str, Any]) -> bool:
        """Hands the worker the latest pod; False when the worker has already finished."""
        with self.lock:
            if self.finished:
                return False
            self.pod = pod
        self._wake.set()
        return True

    def gone(self) -> None:
        self._gone = True
        self._wake.set()

    def shutdown(self) -> None:
        self._shutdown = True
        self._wake.set()

    # --- the worker's own thread ---

    def run(self) -> None:
        try:
            self._run()
        except Exception as e:
            log.exception(
                "pod %s/%s: the worker failed; its processes are stopped",
                self.namespace,
                self.pod_name,
            )
            self._stop_all(grace=0)
            self._report_crash(e)
        finally:
            with self.lock:
                self.finished = True
            self._on_exit(self)

    def _run(self) -> None:
        spec = self.pod["spec"]
        previous = (self.pod.get("status") or {}).get("podIP")
        self.pod_ip = (
            self.cfg.host_ip
            if spec.get("hostNetwork")
            else self.pool.allocate(self.uid, prefer=previous)
        )
        started = (self.pod.get("status") or {}).get("startTime")
        if started:
            self.start_time = datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        # The pod IP is in the API before any process starts, so a process may rely on status.podIP.
        while not self._publish():
            if self._ending():
                return
            self._wake.wait(RETRY)
        while True:
            if self._ending():
                self._terminate()
                return
            self._wake.clear()
            with self.lock:
                self._step()
            with self.lock:
                phase = self._status()["phase"]
            # A finished pod's worker leaves only once the API has its final status.
            published = self._publish()
            sidecars_left = any(c.proc is not None for c in self.init)
            if published and phase in {"Succeeded", "Failed"} and not sidecars_left:
                self._stop_all(grace=0)
                log.info("pod %s/%s is %s", self.namespace, self.pod_name, phase)
                return
            self._wake.wait(TICK if published else RETRY)

    def _report_crash(self, error: Exception) -> None:
        """Says in the pod's status that the runner gave up on it, so nobody waits on it in silence."""
        with self.lock:
            for c in [*self.init, *self.app]:
                c.proc = None
                c.state = status.Waiting(
                    "RunContainerError", f"the test bed's pod runner failed: {error!r}"
                )
        if self.pod_ip:
            self._publish()

    def _ending(self) -> bool:
        return self._gone or self._shutdown or bool(self.pod["metadata"].get("deletionTimestamp"))

    def _step(self) -> None:
        if self._volumes_due():
            self._prepare_volumes()
        for c in self.init:
            if c.sidecar:
                # Sidecars start in order with the others and then run beside the app containers.
                self._tend(c)
                if not (c.running and c.started) and not self._apps_begun():
                    return
            elif not c.succeeded:
                self._tend(c)
                return
        for c in self.app:
            self._tend(c)
        if self._apps_finished():
            # The app containers are done for good: the kubelet then stops the sidecars.
            for c in self.init:
                if c.sidecar and c.proc is not None and c.kill_deadline is None:
                    c.kill_deadline = -1.0
                c.next_start = None if c.sidecar else c.next_start

    def _apps_begun(self) -> bool:
        return status.apps_begun([c.view() for c in self.app])

    def _apps_finished(self) -> bool:
        return all(
            isinstance(c.state, status.Terminated) and c.next_start is None for c in self.app
        )

    def _volumes_due(self) -> bool:
        p, t = self._prepared, time.monotonic()
        if t < self._volumes_retry_at:
            return False
        return p is None or (p.refresh_at is not None and t >= p.refresh_at)

    def _prepare_volumes(self) -> None:
        try:
            self._prepared = volumes.prepare(
                self.pod,
                pod_dir=self.cfg.pod_dir(self.namespace, self.pod_name, self.uid),
                state_dir=self.cfg.state_dir,
                sources=self.kube,
                pod_ip=self.pod_ip,
                host_ip=self.cfg.host_ip,
            )
            self._volume_error = ""
        except (OSError, ValueError, RuntimeError, ApiException, HTTPError) as e:
            self._volume_error = f"MountVolume.SetUp failed: {e}"
            self._volumes_retry_at = time.monotonic() + RETRY
            log.warning("pod %s/%s: %s", self.namespace, self.pod_name, self._volume_error)

    def _tend(self, c: container.ContainerRun) -> None:
        """Moves one container along: reap an exit, enforce a kill, or (re)start it when due."""
        t = time.monotonic()
        if c.proc is not None:
            code = c.proc.proc.poll()
            if code is not None:
                self._exited(c, code)
            elif c.kill_deadline is not None:
                if c.kill_deadline < 0:
                    c.kill_deadline = t + self._grace()
                    process.signal_group(c.proc.proc.pid, signal.SIGTERM)
                elif t >= c.kill_deadline:
                    process.signal_group(c.proc.proc.pid, signal.SIGKILL)
        elif c.simulated and c.running:
            if c.simulated_exit is not None:
                self._exited(c, c.simulated_exit)
        elif c.next_start is not None and t >= c.next_start:
            if self._prepared is None:
                c.state = status.Waiting("ContainerCreating", self._volume_error)
                c.next_start = t + RETRY
            else:
                self._start(c)

    def _start(self, c: container.ContainerRun) -> None:
        if c.starts:
            c.restart_count += 1
        if c.simulated:
            c.begin_running(now=now(), target=None, lock=self.lock, wake=self._wake.set)
            c.started = c.ready = True
            c.simulated_exit = 0 if (self.job_pod or c.init) else None
            return
        assert self._prepared is not None
        try:
            plan = launch.plan(
                c,
                pod=self.pod,
                cfg=self.cfg,
                prepared=self._prepared,
                pod_ip=self.pod_ip,
                sources=self.kube,
                server=self.kube.server,
            )
        except (ValueError, RuntimeError, OSError, ApiException, HTTPError) as e:
            c.state = status.Waiting("CreateContainerConfigError", str(e))
            c.next_start = time.monotonic() + RETRY
            return
        try:
            c.proc = process.start(plan.launch)
        except OSError as e:
            c.state = status.Waiting(
                "RunContainerError", f"failed to start {list(plan.launch.argv)}: {e}"
            )
            c.next_start = time.monotonic() + RETRY
            return
        c.message_file = plan.message_file
        c.begin_running(
            now=now(), target=plan.target(c.proc.proc.pid), lock=self.lock, wake=self._wake.set
        )
        log.info(
            "pod %s/%s: started container %s (pid %d)",
            self.namespace,
            self.pod_name,
            c.name,
            c.proc.proc.pid,
        )

    def _exited(self, c: container.ContainerRun, code: int) -> None:
        c.stop_probes()
        started_at = c.started_at or now()
        if c.proc is not None:
            # Whatever the main process left behind in its group goes with it, as with a cgroup.
            process.signal_group(c.proc.proc.pid, signal.SIGKILL)
            terminated = process.termination(
                c.proc,
                exit_code=code,
                message_file=c.message_file,
                policy=c.spec.get("terminationMessagePolicy") or "File",
                log=self.cfg.log_path(self.namespace, self.pod_name, c.name),
                started_at=started_at,
                finished_at=now(),
            )
        else:
            terminated = status.Terminated(
                exit_code=code,
                reason="Completed" if code == 0 else "Error",
                started_at=started_at,
                finished_at=now(),
            )
        if c.kill_reason and not terminated.message:
            terminated = status.Terminated(**{**terminated.__dict__, "message": c.kill_reason})
        ran = time.monotonic() - c.started_mono
        c.proc, c.kill_deadline, c.kill_reason, c.simulated_exit = None, None, "", None
        c.ready = c.started = False
        c.state = terminated
        restart = policy.should_restart(
            init=c.init and not c.sidecar,
            policy="Always" if c.sidecar else self.restart_policy,
            exit_code=code,
        ) and not (c.sidecar and self._apps_finished())
        log.info(
            "pod %s/%s: container %s exited %d%s",
            self.namespace,
            self.pod_name,
            c.name,
            terminated.exit_code,
            ", restarting" if restart else "",
        )
        if not restart:
            c.next_start = None
            return
        if ran > 2 * self.cfg.backoff_cap:
            c.failures = 0  # a container that ran well for a while starts its back-off afresh
        c.failures += 1
        delay = policy.backoff(
            restarts=c.failures, base=self.cfg.backoff_base, cap=self.cfg.backoff_cap
        )
        c.last_state = terminated
        if delay:
            c.state = status.Waiting(
                "CrashLoopBackOff",
                f"back-off {delay:g}s restarting failed container={c.name} pod={self.pod_name}",
            )
        c.next_start = time.monotonic() + delay

    def _grace(self) -> float:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        return float(grace)

    def _status(self) -> dict[str, Any]:
        body = status.pod_status(
            init=[c.view() for c in self.init],
            app=[c.view() for c in self.app],
            restart_policy=self.restart_policy,
            pod_ip=self.pod_ip,
            host_ip=self.cfg.host_ip,
            start_time=self.start_time,
            previous_conditions=self._conditions,
            now=now(),
        )
        generation = self.pod["metadata"].get("generation")
        if generation is not None:
            # Which spec this status describes, as the kubelet says since 1.33.
            body["observedGeneration"] = generation
        return body

    def _publish(self) -> bool:
        with self.lock:
            body = self._status()
        if body == self._published:
            return True
        if time.monotonic() < self._publish_not_before:
            return False
        # The address lists merge by ip; "replace" keeps a pod that changed address at one each.
        patch = body | {
            "podIPs": [{"$patch": "replace"}, *body["podIPs"]],
            "hostIPs": [{"$patch": "replace"}, *body["hostIPs"]],
        }
        try:
            self.kube.patch_status(self.namespace, self.pod_name, {"status": patch})
        except (ApiException, HTTPError, OSError) as e:
            if isinstance(e, ApiException) and e.status == 404:
                self._gone = True
            log.warning(
                "pod %s/%s: status patch failed, retrying in %gs: %s",
                self.namespace,
                self.pod_name,
                RETRY,
                _api_message(e),
            )
            self._publish_not_before = time.monotonic() + RETRY
            return False
        self._published = body
        self._conditions = body["conditions"]
        return True

    def _terminate(self) -> None:
        """SIGTERM, SIGKILL after the grace period, then (unless the runner is stopping) the final delete."""
        deleting = not self._gone and not self._shutdown
        grace = self._grace() if deleting else min(self._grace(), 5.0)
        if deleting:
            # The kubelet runs preStop hooks first; they use up the grace period, but SIGTERM still
            # comes with at least 2 seconds to spare.
            grace = max(grace - hooks.run_pre_stop(self._pre_stop_hooks(), grace=grace), 2.0)
        self._stop_all(grace=grace)
        if deleting:
            try:
                self.kube.delete_now(self.namespace, self.pod_name, self.uid)
            except (ApiException, HTTPError, OSError) as e:
                log.warning("pod %s/%s: final delete failed: %s", self.namespace, self.pod_name, e)
        if self._gone or deleting:
            shutil.rmtree(
                self.cfg.pod_dir(self.namespace, self.pod_name, self.uid), ignore_errors=True
            )

    def _pre_stop_hooks(self) -> list[tuple[str, dict[str, Any], probe_exec.Target]]:
        with self.lock:
            return [
                (c.name, c.spec["lifecycle"]["preStop"], c.target)
                for c in self.app
                if c.proc is not None
                and c.target is not None
                and (c.spec.get("lifecycle") or {}).get("preStop")
            ]

    def _stop_all(self, *, grace: float) -> None:
        with self.lock:
            procs = [c.proc.proc for c in [*self.init, *self.app] if c.proc is not None]
            for c in [*self.init, *self.app]:
                c.stop_probes()
        for p in procs:
            process.signal_group(p.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        deadline = time.monotonic() + grace
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        for p in procs:
            process.signal_group(p.pid, signal.SIGKILL)
            if p.poll() is None:
                p.wait()


def _api_message(e: Exception) -> str:
    """The API server's own words (e.g. which field is invalid), not just "Unprocessable Entity"."""
    if isinstance(e, ApiException) and e.body:
        try:
            return str(json.loads(e.body).get("message", e.reason))
        except ValueError:
            return str(e.reason)
    return str(e)
