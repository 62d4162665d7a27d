"""The pod status the runner writes reads like a kubelet's: phase, conditions, container states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from testbed.podrunner import status
from testbed.podrunner.status import ContainerView, Running, Terminated, Waiting

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RUN = Running(T0)
OK = Terminated(exit_code=0, reason="Completed", started_at=T0, finished_at=T0)
BAD = Terminated(exit_code=3, reason="Error", started_at=T0, finished_at=T0, message="boom")
CREATING = Waiting("ContainerCreating")
BACKOFF = Waiting("CrashLoopBackOff")


def c(
    state: status.State, *, last: Terminated | None = None, ready: bool = False, name: str = "c"
) -> ContainerView:
    return ContainerView(
        name=name, image="model-rollout", state=state, last_state=last, ready=ready
    )


@pytest.mark.parametrize(
    ("init", "app", "policy", "expected"),
    [
        ([], [c(CREATING)], "Always", "Pending"),
        ([], [c(RUN)], "Always", "Running"),
        ([], [c(RUN), c(CREATING)], "Always", "Pending"),
        ([], [c(OK)], "Never", "Succeeded"),
        ([], [c(BAD)], "Never", "Failed"),
        ([], [c(OK), c(BAD)], "Never", "Failed"),
        ([], [c(OK), c(RUN)], "Never", "Running"),
        ([], [c(OK)], "OnFailure", "Succeeded"),
        ([], [c(BACKOFF, last=BAD)], "OnFailure", "Running"),
        ([], [c(BAD)], "Always", "Running"),
        ([], [c(BACKOFF, last=BAD)], "Always", "Running"),
        ([c(RUN)], [c(Waiting("PodInitializing"))], "Always", "Pending"),
        ([c(BAD)], [c(Waiting("PodInitializing"))], "Never", "Failed"),
        ([c(BACKOFF, last=BAD)], [c(Waiting("PodInitializing"))], "OnFailure", "Pending"),
        ([c(OK)], [c(RUN)], "Always", "Running"),
    ],
)
def test_phase_follows_the_kubelets_rules(
    init: list[ContainerView], app: list[ContainerView], policy: str, expected: str
) -> None:
    assert status.phase(init=init, app=app, restart_policy=policy) == expected


def conditions(
    app: list[ContainerView], previous: list[dict[str, object]], now: datetime
) -> dict[str, dict[str, object]]:
    phase = status.phase(init=[], app=app, restart_policy="Always")
    out = status.conditions(
        init=[], app=app, pod_phase=phase, sandbox_ready=True, previous=previous, now=now
    )
    return {str(x["type"]): x for x in out}


def test_ready_follows_the_containers_and_keeps_its_transition_time_until_it_flips() -> None:
    first = conditions([c(RUN, ready=False, name="web")], [], T0)
    assert first["Ready"]["status"] == "False"
    assert first["Ready"]["message"] == "containers with unready status: [web]"
    later = T0 + timedelta(seconds=5)
    same = conditions([c(RUN, ready=False, name="web")], list(first.values()), later)
    assert same["Ready"]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    flipped = conditions([c(RUN, ready=True, name="web")], list(same.values()), later)
    assert flipped["Ready"]["status"] == flipped["ContainersReady"]["status"] == "True"
    assert flipped["Ready"]["lastTransitionTime"] == "2026-01-02T03:04:10Z"
    assert flipped["Ready"]["reason"] is None
    assert flipped["Initialized"]["lastTransitionTime"] == "2026-01-02T03:04:05Z"


def test_a_finished_pod_is_not_ready_because_it_completed() -> None:
    out = status.conditions(
        init=[], app=[c(OK)], pod_phase="Succeeded", sandbox_ready=True, previous=[], now=T0
    )
    ready = next(x for x in out if x["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")


def test_a_terminated_container_reports_exit_code_reason_message_and_last_state() -> None:
    view = ContainerView(
        name="job", image="model-rollout:1", state=BACKOFF, last_state=BAD, restart_count=2
    )
    got = status.container_status(view)
    assert got["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    assert got["lastState"]["terminated"] == {
        "exitCode": 3,
        "reason": "Error",
        "message": "boom",
        "startedAt": "2026-01-02T03:04:05Z",
        "finishedAt": "2026-01-02T03:04:05Z",
    }
    assert (got["restartCount"], got["ready"], got["image"]) == (2, False, "model-rollout:1")


def test_the_pod_status_carries_the_pod_ip_and_init_statuses() -> None:
    got = status.pod_status(
        init=[c(OK, name="fetch")],
        app=[c(RUN, ready=True)],
        restart_policy="Always",
        pod_ip="127.1.0.9",
        host_ip="127.0.0.1",
        start_time=T0,
        previous_conditions=[],
        now=T0,
    )
    assert (got["phase"], got["podIP"], got["podIPs"], got["hostIP"]) == (
        "Running",
        "127.1.0.9",
        [{"ip": "127.1.0.9"}],
        "127.0.0.1",
    )
    assert got["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert got["startTime"] == "2026-01-02T03:04:05Z"


def sidecar(
    state: status.State, *, started: bool = True, last: Terminated | None = None
) -> ContainerView:
    return ContainerView(
        name="proxy", image="envoy", state=state, last_state=last, started=started, sidecar=True
    )


@pytest.mark.parametrize(
    ("init", "app", "policy", "expected"),
    [
        ([sidecar(CREATING, started=False)], [c(Waiting("PodInitializing"))], "Always", "Pending"),
        ([sidecar(RUN, started=False)], [c(Waiting("PodInitializing"))], "Always", "Pending"),
        ([sidecar(RUN)], [c(RUN)], "Always", "Running"),
        ([sidecar(BACKOFF, started=False, last=BAD)], [c(RUN)], "Always", "Running"),
        ([sidecar(RUN)], [c(OK)], "Never", "Succeeded"),
        ([sidecar(RUN)], [c(BAD)], "Never", "Failed"),
    ],
)
def test_a_sidecar_gates_the_pod_until_it_starts_and_never_decides_its_outcome(
    init: list[ContainerView], app: list[ContainerView], policy: str, expected: str
) -> None:
    assert status.phase(init=init, app=app, restart_policy=policy) == expected


def test_a_sidecar_counts_towards_containers_ready() -> None:
    out = status.conditions(
        init=[sidecar(RUN)],
        app=[c(RUN, ready=True)],
        pod_phase="Running",
        sandbox_ready=True,
        previous=[],
        now=T0,
    )
    ready = next(x for x in out if x["type"] == "ContainersReady")
    assert (ready["status"], ready["message"]) == (
        "False",
        "containers with unready status: [proxy]",
    )
