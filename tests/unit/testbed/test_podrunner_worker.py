"""A pod worker runs real processes and reports them as a kubelet would, against a recording API fake.

Not marked unit: each test starts processes in private mount namespaces (needs root) and takes seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.podrunner import ipam, pod, settings

PY = sys.executable


class FakeKube:
    server = ("127.0.0.1", 6443)

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.cond = threading.Condition()

    def patch_status(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        with self.cond:
            self.statuses.append(body["status"])
            self.cond.notify_all()

    def delete_now(self, namespace: str, name: str, uid: str) -> None:
        with self.cond:
            self.deleted.append(name)
            self.cond.notify_all()

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        return {"greeting": "hello"} if name == "cfg" else None

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return None

    def token(self, namespace: str, service_account: str, **_: object) -> str:
        return "tok"

    def cluster_ca(self) -> str:
        return "CA"

    def wait(self, what: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (self.statuses and what(self.statuses[-1])):
                left = deadline - time.monotonic()
                if left <= 0:
                    last = self.statuses[-1] if self.statuses else None
                    raise AssertionError(f"no status matched within {timeout}s; last: {last}")
                self.cond.wait(left)
            return self.statuses[-1]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Callable[..., tuple[pod.PodWorker, FakeKube]]]:
    workers: list[pod.PodWorker] = []
    cfg = settings.Settings(
        state_dir=tmp_path,
        project_images=frozenset({"model-rollout"}),
        entrypoint=("model-rollout",),
        path_prepend=(str(Path(PY).parent),),
        backoff_base=0.2,
    )

    def start(
        containers: list[dict[str, Any]],
        init: list[dict[str, Any]] | None = None,
        *,
        policy: str = "Always",
        owner: str = "ReplicaSet",
        grace: int = 5,
    ) -> tuple[pod.PodWorker, FakeKube]:
        fake = FakeKube()
        p = {
            "metadata": {
                "name": "p1",
                "namespace": "ns",
                "uid": f"uid-{len(workers)}",
                "ownerReferences": [{"kind": owner, "name": "o"}],
            },
            "spec": {
                "containers": containers,
                "initContainers": init or [],
                "restartPolicy": policy,
                "nodeName": "n",
                "terminationGracePeriodSeconds": grace,
            },
        }
        w = pod.PodWorker(p, kube_api=fake, cfg=cfg, pool=ipam.IPPool(), on_exit=lambda _: None)  # type: ignore[arg-type]
        workers.append(w)
        w.start()
        return w, fake

    yield start
    for w in workers:
        w.shutdown()
        w.join(10)


def container(*code: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "main",
        "image": "model-rollout:dev",
        "command": [PY, "-c", "\n".join(code)],
        **extra,
    }


def wait_for_log(log: Path, text: str, timeout: float = 10) -> None:
    """Waits for what the process prints once it is set up (not "sleep": its command line is logged too)."""
    deadline = time.monotonic() + timeout
    while not (log.exists() and text in log.read_text()):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {log}"
        time.sleep(0.05)


def state(s: dict[str, Any]) -> dict[str, Any]:
    return s["containerStatuses"][0]["state"]


def test_a_failing_job_pod_fails_with_its_exit_code_and_termination_message(run: Any) -> None:
    _, kube = run(
        [
            container(
                "import os",
                "open('/dev/termination-log', 'w').write('ip=' + os.environ['POD_IP'])",
                "raise SystemExit(3)",
                env=[{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            )
        ],
        policy="Never",
        owner="Job",
    )
    final = kube.wait(lambda s: s["phase"] == "Failed")
    first = kube.statuses[0]
    assert first["phase"] == "Pending"
    assert first["podIP"].startswith("127.1.")
    terminated = state(final)["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert terminated["message"] == f"ip={first['podIP']}"


def test_a_job_pod_that_exits_zero_succeeds(run: Any) -> None:
    _, kube = run([container("print('done')")], policy="Never", owner="Job")
    final = kube.wait(lambda s: s["phase"] == "Succeeded")
    assert state(final)["terminated"]["reason"] == "Completed"


def test_an_always_pod_restarts_a_crashing_container_with_back_off(run: Any) -> None:
    _, kube = run([container("raise SystemExit(1)")])
    s = kube.wait(lambda s: s["containerStatuses"][0]["restartCount"] >= 3)
    assert s["phase"] == "Running"
    assert s["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1
    assert any("CrashLoopBackOff" in str(x["containerStatuses"][0]["state"]) for x in kube.statuses)


def test_fallback_to_logs_reports_the_tail_of_the_output(run: Any) -> None:
    _, kube = run(
        [
            container(
                "print('the model file is missing', flush=True)",
                "raise SystemExit(2)",
                terminationMessagePolicy="FallbackToLogsOnError",
            )
        ],
        policy="Never",
    )
    final = kube.wait(lambda s: s["phase"] == "Failed")
    assert state(final)["terminated"]["message"].strip() == "the model file is missing"


def test_readiness_is_answered_by_the_process_on_the_pod_ip(run: Any, tmp_path: Path) -> None:
    _, kube = run(
        [
            {
                "name": "web",
                "image": "model-rollout",
                "command": ["python", "-m", "http.server", "--bind", "$(IP)", "8080"],
                "env": [{"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
            }
        ]
    )
    s = kube.wait(lambda s: s["containerStatuses"][0]["ready"])
    assert {c["type"]: c["status"] for c in s["conditions"]}["Ready"] == "True"
    log = (tmp_path / "logs" / "ns_p1_web.log").read_text()
    assert '"GET / HTTP/1.1" 200' in log
    assert "podrunner: start 1 of container web" in log


def test_a_failing_liveness_probe_restarts_the_container(run: Any) -> None:
    _, kube = run(
        [
            container(
                "import time",
                "time.sleep(60)",
                livenessProbe={
                    "exec": {"command": ["test", "-e", "/no/such/file"]},
                    "periodSeconds": 1,
                    "failureThreshold": 1,
                },
            )
        ],
        grace=1,
    )
    s = kube.wait(lambda s: s["containerStatuses"][0]["restartCount"] >= 1, timeout=20)
    assert (
        "failed liveness probe" in s["containerStatuses"][0]["lastState"]["terminated"]["message"]
    )


def test_deleting_the_pod_sends_sigterm_then_deletes_it(run: Any, tmp_path: Path) -> None:
    w, kube = run(
        [
            container(
                "import signal, sys, time",
                "signal.signal(signal.SIGTERM, lambda n, _: (print('stopping on signal', n, flush=True), sys.exit(0)))",
                "print('ready', 40 + 2, flush=True)",
                "time.sleep(60)",
            )
        ]
    )
    kube.wait(lambda s: s["phase"] == "Running")
    log = tmp_path / "logs" / "ns_p1_main.log"
    wait_for_log(log, "ready 42")
    pid = w.app[0].proc.proc.pid
    w.update(
        {**w.pod, "metadata": {**w.pod["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    )
    w.join(10)
    assert kube.deleted == ["p1"]
    assert (
        "stopping on signal 15" in log.read_text()
    )  # not "signal", which the logged command holds
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_missing_config_map_keeps_the_container_waiting_with_the_reason(run: Any) -> None:
    _, kube = run(
        [
            container(
                "pass",
                env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}],
            )
        ]
    )
    s = kube.wait(
        lambda s: state(s).get("waiting", {}).get("reason") == "CreateContainerConfigError"
    )
    assert 'configmap "gone" not found' in state(s)["waiting"]["message"]


def test_other_images_are_simulated_running_and_ready_and_job_pods_succeed(run: Any) -> None:
    _, kube = run([{"name": "nginx", "image": "nginx:1.27"}])
    s = kube.wait(lambda s: s["phase"] == "Running" and s["containerStatuses"][0]["ready"])
    assert s["podIP"].startswith("127.1.")
    _, job = run([{"name": "sim", "image": "busybox"}], policy="Never", owner="Job")
    assert state(job.wait(lambda s: s["phase"] == "Succeeded"))["terminated"]["exitCode"] == 0


ORPHAN_SCRIPT = """
import os, sys
from pathlib import Path
from testbed.podrunner import process
state = Path(sys.argv[1])
started = process.start(process.Launch(
    argv=["sleep", "300"], env={"PATH": os.environ["PATH"]}, working_dir="", mounts=[],
    log=state / "c.log", plan=state / "plan.json", banner="start",
))
print(started.proc.pid, flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_container_does_not_outlive_a_runner_killed_outright(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run(
        [PY, "-c", ORPHAN_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
        check=False,
    )
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), f"container {pid} outlived its runner"


def test_a_startup_probe_holds_started_and_ready_until_it_succeeds(
    run: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "warm"
    _, kube = run(
        [
            container(
                "import pathlib, sys, time",
                "time.sleep(1.5)",
                "pathlib.Path(sys.argv[1]).touch()",
                "time.sleep(60)",
                args=[str(marker)],
                startupProbe={
                    "exec": {"command": ["test", "-e", str(marker)]},
                    "periodSeconds": 1,
                    "failureThreshold": 30,
                },
            )
        ]
    )
    running = kube.wait(lambda s: s["phase"] == "Running")
    assert not running["containerStatuses"][0]["started"]
    assert not running["containerStatuses"][0]["ready"]
    s = kube.wait(lambda s: s["containerStatuses"][0]["started"])
    assert s["containerStatuses"][0]["ready"]
    assert marker.exists()


def test_a_pre_stop_hook_runs_before_sigterm(run: Any, tmp_path: Path) -> None:
    flag = tmp_path / "hook-ran"
    w, kube = run(
        [
            container(
                "import pathlib, signal, sys, time",
                "flag = pathlib.Path(sys.argv[1])",
                "signal.signal(signal.SIGTERM, lambda *_: (print('hook first:', flag.exists(), flush=True), sys.exit(0)))",
                "print('ready', 40 + 2, flush=True)",
                "time.sleep(60)",
                args=[str(flag)],
                lifecycle={"preStop": {"exec": {"command": ["touch", str(flag)]}}},
            )
        ]
    )
    kube.wait(lambda s: s["phase"] == "Running")
    wait_for_log(tmp_path / "logs" / "ns_p1_main.log", "ready 42")
    w.update(
        {**w.pod, "metadata": {**w.pod["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    )
    w.join(10)
    assert "hook first: True" in (tmp_path / "logs" / "ns_p1_main.log").read_text()


def test_a_command_that_is_not_on_path_fails_to_start_with_the_kubelets_words(run: Any) -> None:
    _, kube = run(
        [{"name": "main", "image": "model-rollout", "command": ["no-such-binary", "--x"]}],
        policy="Never",
    )
    terminated = state(kube.wait(lambda s: s["phase"] == "Failed"))["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("StartError", 128)
    assert terminated["message"] == 'exec: "no-such-binary": executable file not found in $PATH'


def test_a_sidecar_runs_beside_a_job_and_is_stopped_when_the_job_is_done(
    run: Any, tmp_path: Path
) -> None:
    sidecar = container(
        "import time",
        "print('sidecar', 6 * 7, flush=True)",
        "time.sleep(60)",
        restartPolicy="Always",
    )
    sidecar["name"] = "proxy"
    job = container("import time", "time.sleep(1)", "print('job', 'done', flush=True)")
    w, kube = run([job], policy="Never", owner="Job", init=[sidecar])
    final = kube.wait(lambda s: s["phase"] == "Succeeded", timeout=20)
    w.join(10)
    assert not w.is_alive()
    assert "sidecar 42" in (tmp_path / "logs" / "ns_p1_proxy.log").read_text()
    assert final["initContainerStatuses"][0]["name"] == "proxy"
    running = [s for s in kube.statuses if s["phase"] == "Running"]
    assert running, "the job container ran while the sidecar did"
    assert running[-1]["initContainerStatuses"][0]["state"].get("running")


def test_an_exec_probe_runs_in_the_containers_working_directory(run: Any, tmp_path: Path) -> None:
    workdir = tmp_path / "wd"
    _, kube = run(
        [
            container(
                "import pathlib, time",
                "time.sleep(0.5)",
                "pathlib.Path('warmed-up').touch()",
                "time.sleep(60)",
                workingDir=str(workdir),
                readinessProbe={
                    "exec": {"command": ["test", "-e", "warmed-up"]},
                    "periodSeconds": 1,
                },
            )
        ]
    )
    kube.wait(lambda s: s["containerStatuses"][0]["ready"])
    assert (workdir / "warmed-up").exists()
