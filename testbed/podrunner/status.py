"""The pod status a kubelet writes, built from what the runner observed: phase, conditions, containers.

Pure: the pod worker passes its containers' states and the time; getPhase follows the kubelet's rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Waiting:
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Running:
    started_at: datetime


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str
    started_at: datetime
    finished_at: datetime
    message: str = ""
    signal: int | None = None


State = Waiting | Running | Terminated


@dataclass(frozen=True)
class ContainerView:
    name: str
    image: str
    state: State
    last_state: Terminated | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    container_id: str = ""
    sidecar: bool = False  # an init container with restartPolicy Always: runs beside the app


def apps_begun(app: Sequence[ContainerView]) -> bool:
    """Whether the app containers have been started at least once (the pod got past its init)."""
    return any(not isinstance(c.state, Waiting) or c.last_state is not None for c in app)


def init_done(c: ContainerView, *, begun: bool) -> bool:
    """A regular init container is done once it succeeded; a sidecar once it started (or the apps did)."""
    if c.sidecar:
        return begun or (isinstance(c.state, Running) and c.started)
    return isinstance(c.state, Terminated) and c.state.exit_code == 0


def timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def container_status(view: ContainerView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": view.name,
        "image": view.image,
        "imageID": f"process://{view.image}",
        "ready": view.ready,
        "started": view.started,
        "restartCount": view.restart_count,
        "state": _state(view.state),
        "lastState": _state(view.last_state) if view.last_state else {},
    }
    if view.container_id:
        out["containerID"] = view.container_id
    return out


def _state(state: State) -> dict[str, Any]:
    if isinstance(state, Waiting):
        return {
            "waiting": {
                "reason": state.reason,
                **({"message": state.message} if state.message else {}),
            }
        }
    if isinstance(state, Running):
        return {"running": {"startedAt": timestamp(state.started_at)}}
    terminated: dict[str, Any] = {
        "exitCode": state.exit_code,
        "reason": state.reason,
        "startedAt": timestamp(state.started_at),
        "finishedAt": timestamp(state.finished_at),
    }
    if state.message:
        terminated["message"] = state.message
    if state.signal is not None:
        terminated["signal"] = state.signal
    return {"terminated": terminated}


def phase(
    *, init: Sequence[ContainerView], app: Sequence[ContainerView], restart_policy: str
) -> str:
    """The kubelet's getPhase: Pending until all run, Running while any runs or restarts, then the verdict."""
    pending_init = failed_init = 0
    begun = apps_begun(app)
    for c in init:
        if c.sidecar:
            pending_init += not init_done(c, begun=begun)
        elif isinstance(c.state, Terminated):
            failed_init += c.state.exit_code != 0
        elif (
            isinstance(c.state, Waiting)
            and c.last_state is not None
            and c.last_state.exit_code != 0
        ):
            failed_init += 1
        else:
            pending_init += 1
    if failed_init and restart_policy == "Never":
        return "Failed"
    if pending_init or failed_init:
        return "Pending"
    running = sum(isinstance(c.state, Running) for c in app)
    stopped = sum(
        isinstance(c.state, Terminated)
        or (isinstance(c.state, Waiting) and c.last_state is not None)
        for c in app
    )
    succeeded = sum(isinstance(c.state, Terminated) and c.state.exit_code == 0 for c in app)
    waiting = len(app) - running - stopped
    if waiting:
        return "Pending"
    if running or restart_policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if restart_policy == "Never" else "Running"


def conditions(
    *,
    init: Sequence[ContainerView],
    app: Sequence[ContainerView],
    pod_phase: str,
    sandbox_ready: bool,
    previous: Sequence[Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """The conditions the kubelet owns; lastTransitionTime moves only when a status flips."""
    begun = apps_begun(app)
    unfinished = [c.name for c in init if not init_done(c, begun=begun)]
    unready = [c.name for c in init if c.sidecar and not c.ready] + [
        c.name for c in app if not c.ready
    ]
    terminal = pod_phase in {"Succeeded", "Failed"}
    wanted: list[tuple[str, bool, str, str]] = [
        ("PodReadyToStartContainers", sandbox_ready, "", ""),
        (
            "Initialized",
            not unfinished,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(unfinished)}]",
        ),
    ]
    ready_reason = "PodCompleted" if terminal else "ContainersNotReady"
    ready_message = "" if terminal else f"containers with unready status: [{' '.join(unready)}]"
    wanted.append(("ContainersReady", not unready and not terminal, ready_reason, ready_message))
    wanted.append(("Ready", not unready and not terminal, ready_reason, ready_message))
    before = {c.get("type"): c for c in previous}
    out = []
    for kind, ok, reason, message in wanted:
        status = "True" if ok else "False"
        old = before.get(kind)
        since = old.get("lastTransitionTime") if old and old.get("status") == status else None
        cond: dict[str, Any] = {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": since or timestamp(now),
        }
        # Explicit nulls: the API merges conditions by type, and a stale reason must not survive.
        cond["reason"] = reason if not ok and reason else None
        cond["message"] = message if not ok and message else None
        out.append(cond)
    return out


def pod_status(
    *,
    init: Sequence[ContainerView],
    app: Sequence[ContainerView],
    restart_policy: str,
    pod_ip: str,
    host_ip: str,
    start_time: datetime,
    previous_conditions: Sequence[Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """The whole status patch; the API server merges conditions by type, so PodScheduled is kept."""
    pod_phase = phase(init=init, app=app, restart_policy=restart_policy)
    status: dict[str, Any] = {
        "phase": pod_phase,
        "conditions": conditions(
            init=init,
            app=app,
            pod_phase=pod_phase,
            sandbox_ready=True,
            previous=previous_conditions,
            now=now,
        ),
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": timestamp(start_time),
        "containerStatuses": [container_status(c) for c in app],
    }
    if init:
        status["initContainerStatuses"] = [container_status(c) for c in init]
    return status
