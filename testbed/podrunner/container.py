"""One container across its restarts: its state for the status, its process, and its probe threads.

Owned by a pod worker, which holds `lock` while it reads or changes a ContainerRun; probe threads
report through `on_probe` under the same lock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from testbed.podrunner import probe_exec, probes, process, status

log = logging.getLogger(__name__)


class ContainerRun:
    def __init__(
        self, spec: Mapping[str, Any], *, init: bool, simulated: bool, waiting: str
    ) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.image: str = spec.get("image", "")
        self.init = init
        self.sidecar = init and spec.get("restartPolicy") == "Always"
        self.simulated = simulated
        self.state: status.State = status.Waiting(waiting)
        self.last_state: status.Terminated | None = None
        self.restart_count = 0
        self.starts = 0
        self.ready = False
        self.started = False
        self.started_at: datetime | None = None
        self.started_mono = 0.0
        self.next_start: float | None = (
            time.monotonic()
        )  # monotonic time it may (re)start; None: never
        self.proc: process.Started | None = None
        self.kill_deadline: float | None = None
        self.kill_reason = ""
        self.simulated_exit: int | None = None
        self.target: probe_exec.Target | None = None  # where probes and hooks reach this start
        self.container_id = ""  # kept after an exit, as the kubelet reports the last instance's
        self.failures = 0  # consecutive restarts, for the back-off
        self.message_file = Path(os.devnull)  # this start's terminationMessagePath on the host
        self._probe_stop = threading.Event()
        self._started_gate = threading.Event()

    @property
    def running(self) -> bool:
        return isinstance(self.state, status.Running)

    @property
    def succeeded(self) -> bool:
        return isinstance(self.state, status.Terminated) and self.state.exit_code == 0

    def view(self) -> status.ContainerView:
        return status.ContainerView(
            name=self.name,
            image=self.image,
            state=self.state,
            last_state=self.last_state,
            restart_count=self.restart_count,
            ready=self.ready and self.running,
            started=self.started and self.running,
            container_id=self.container_id,
            sidecar=self.sidecar,
        )

    def probe_specs(self) -> list[probes.ProbeSpec]:
        kinds = [
            (probes.STARTUP, "startupProbe"),
            (probes.READINESS, "readinessProbe"),
            (probes.LIVENESS, "livenessProbe"),
        ]
        if (self.init and not self.sidecar) or self.simulated:
            return []  # only sidecars of the init containers are probed; simulated ones are ready at once
        return [
            probes.spec_from(kind, self.spec[field])
            for kind, field in kinds
            if self.spec.get(field)
        ]

    def begin_running(
        self,
        *,
        now: datetime,
        target: probe_exec.Target | None,
        lock: threading.Lock,
        wake: Callable[[], None],
    ) -> None:
        """Marks it running and starts its probes; called with the pod worker's lock held."""
        self.state = status.Running(started_at=now)
        self.started_at = now
        self.started_mono = time.monotonic()
        self.starts += 1
        self.target = target
        self.container_id = (
            f"process://{target.pid}" if target is not None else f"simulated://{self.name}"
        )
        self._probe_stop = threading.Event()
        self._started_gate = threading.Event()
        specs = self.probe_specs() if target is not None else []
        kinds = {s.kind for s in specs}
        self.started = probes.STARTUP not in kinds
        self.ready = self.started and probes.READINESS not in kinds
        if self.started:
            self._started_gate.set()
        for spec in specs:
            gate = None if spec.kind == probes.STARTUP else self._started_gate
            assert target is not None
            threading.Thread(
                target=self._probe_loop,
                kwargs={
                    "spec": spec,
                    "target": target,
                    "gate": gate,
                    "stop": self._probe_stop,
                    "lock": lock,
                    "wake": wake,
                },
                name=f"probe-{self.name}-{spec.kind}",
                daemon=True,
            ).start()

    def stop_probes(self) -> None:
        self._probe_stop.set()

    def _probe_loop(
        self,
        *,
        spec: probes.ProbeSpec,
        target: probe_exec.Target,
        gate: threading.Event | None,
        stop: threading.Event,
        lock: threading.Lock,
        wake: Callable[[], None],
    ) -> None:
        if gate is not None:
            while not gate.wait(0.2):
                if stop.is_set():
                    return
        if stop.wait(max(0.0, self.started_mono + spec.initial_delay - time.monotonic())):
            return
        tracker = probes.ProbeTracker(spec)
        while not stop.is_set():
            ok, message = probe_exec.run(spec.handler, target=target, timeout=spec.timeout)
            changed = tracker.observe(ok)
            if changed is not None and not stop.is_set():
                with lock:
                    if not stop.is_set():
                        self._on_probe(spec.kind, changed, message)
                wake()
                if not probes.holds_after(spec.kind, changed):
                    return
            stop.wait(spec.period)

    def _on_probe(self, kind: str, ok: bool, message: str) -> None:
        log.info(
            "container %s: %s probe %s (%s)",
            self.name,
            kind,
            "succeeded" if ok else "failed",
            message,
        )
        if kind == probes.READINESS:
            self.ready = ok
        elif kind == probes.STARTUP and ok:
            self.started = True
            self.ready = not any(s.kind == probes.READINESS for s in self.probe_specs())
            self._started_gate.set()
        elif not ok and self.kill_deadline is None:
            self.ready = False
            self.kill_reason = (
                f"Container {self.name} failed {kind} probe, will be restarted: {message}"
            )
            self.kill_deadline = -1.0  # asks the pod worker to stop it with the pod's grace period
