"""The pod runner on the real API server: the project's pods run as processes the controllers judge.

Each test names one behaviour of issue 3 item 4 and fails when the runner stops providing it.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import urllib.request
from typing import Any

import pytest

from tests import testbed_client
from tests.testbed_client import eventually

pytestmark = pytest.mark.integration

IMAGE = "model-rollout:dev"


@pytest.fixture(scope="session")
def testbed(pod_runner_testbed: testbed_client.Testbed) -> testbed_client.Testbed:
    """The pod runner's own bed, whatever MODEL_ROLLOUT_REAL_NODE says."""
    return pod_runner_testbed


POD_IP_ENV = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def apply(testbed: testbed_client.Testbed, namespace: str, *objects: dict[str, Any]) -> None:
    for obj in objects:
        testbed.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def python(code: str) -> list[str]:
    return ["python", "-c", textwrap.dedent(code)]


def pods(testbed: testbed_client.Testbed, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = testbed.get("pods", "-n", namespace, "-l", selector)["items"]
    return items


def job(name: str, code: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"job": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": IMAGE, "command": python(code)}],
                },
            },
        },
    }


def job_condition(testbed: testbed_client.Testbed, namespace: str, name: str) -> str | None:
    conds = testbed.get("job", name, "-n", namespace).get("status", {}).get("conditions") or []
    true = [
        c["type"] for c in conds if c["status"] == "True" and c["type"] in {"Complete", "Failed"}
    ]
    return true[0] if true else None


def test_a_deployment_gets_ready_pods_whose_readiness_probe_was_answered_by_the_process(
    testbed: testbed_client.Testbed, namespace: str
) -> None:
    labels = {"app": "web"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "http",
                            "image": IMAGE,
                            "command": [
                                "python",
                                "-m",
                                "http.server",
                                "--bind",
                                "$(POD_IP)",
                                "8080",
                            ],
                            "workingDir": "/tmp",
                            "env": [POD_IP_ENV],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/?probe=readiness", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ]
                },
            },
        },
    }
    apply(testbed, namespace, deployment)
    eventually(
        lambda: (
            testbed.get("deployment", "web", "-n", namespace)["status"].get("readyReplicas") == 2
        ),
        timeout=90,
        what="2 ready replicas of the web Deployment",
    )
    running = pods(testbed, namespace, "app=web")
    ips = {p["status"]["podIP"] for p in running}
    assert len(ips) == 2, f"each pod has its own address: {ips}"
    for p in running:
        ip = p["status"]["podIP"]
        assert ip.startswith("127.1."), ip
        ready = {c["type"]: c["status"] for c in p["status"]["conditions"]}
        assert ready["Ready"] == ready["ContainersReady"] == "True"
        # The probe really reached the server the pod runs, on the pod's own address.
        log = testbed.pod_log(namespace, p["metadata"]["name"], "http")
        assert re.search(r'"GET /\?probe=readiness HTTP/1\.1" 200', log), log[-2000:]
        with urllib.request.urlopen(f"http://{ip}:8080/", timeout=5) as resp:
            assert resp.status == 200


def test_a_job_that_exits_non_zero_is_failed_by_the_job_controller_with_its_termination_message(
    testbed: testbed_client.Testbed, namespace: str
) -> None:
    apply(
        testbed,
        namespace,
        job(
            "judge",
            """
        open("/dev/termination-log", "w").write("accuracy 0.42 is below the threshold 0.90")
        raise SystemExit(3)
    """,
        ),
    )
    eventually(
        lambda: job_condition(testbed, namespace, "judge") == "Failed",
        timeout=90,
        what="the Job controller to mark the Job Failed",
    )
    (pod,) = pods(testbed, namespace, "job=judge")
    assert pod["status"]["phase"] == "Failed"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"
    assert terminated["message"] == "accuracy 0.42 is below the threshold 0.90"


def test_a_job_that_exits_zero_completes(testbed: testbed_client.Testbed, namespace: str) -> None:
    apply(
        testbed,
        namespace,
        job(
            "ok",
            """
        import os
        print("validated on", os.environ["HOSTNAME"])
    """,
        ),
    )
    eventually(
        lambda: job_condition(testbed, namespace, "ok") == "Complete",
        timeout=90,
        what="the Job controller to mark the Job Complete",
    )
    (pod,) = pods(testbed, namespace, "job=ok")
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert f"validated on {pod['metadata']['name']}" in testbed.pod_log(
        namespace, pod["metadata"]["name"]
    )


def test_deleting_a_pod_stops_its_process(testbed: testbed_client.Testbed, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "sleeper"},
        "spec": {
            "terminationGracePeriodSeconds": 10,
            "containers": [
                {
                    "name": "main",
                    "image": IMAGE,
                    "command": python("""
                import os, signal, sys, time
                def bye(signum, _frame):
                    print("stopping on signal", signum, flush=True)
                    sys.exit(0)
                signal.signal(signal.SIGTERM, bye)
                print("pid", os.getpid(), flush=True)
                time.sleep(3600)
            """),
                }
            ],
        },
    }
    apply(testbed, namespace, pod)
    match = eventually(
        lambda: re.search(r"^pid (\d+)$", testbed.pod_log(namespace, "sleeper", "main"), re.M),
        timeout=60,
        what="the sleeper to print its pid",
    )
    pid = int(match.group(1))
    os.kill(pid, 0)  # it runs
    testbed.kubectl("delete", "pod", "sleeper", "-n", namespace, "--timeout=30s")
    # The log also holds the command line, so look for what only the handler prints.
    assert "stopping on signal 15" in testbed.pod_log(namespace, "sleeper", "main")
    eventually(lambda: not _alive(pid), timeout=10, what=f"process {pid} to be gone")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has stopped running; its parent reaps it later.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


RBAC_PROBE = """
    import json
    from kubernetes import client, config
    config.load_incluster_config()
    api = client.CoreV1Api()
    ns = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
    out = {"pods": len(api.list_namespaced_pod(ns).items)}
    try:
        api.list_namespaced_secret(ns)
        out["secrets"] = "allowed"
    except client.exceptions.ApiException as e:
        out["secrets"] = e.status
    open("/dev/termination-log", "w").write(json.dumps(out))
"""


def test_a_pod_under_a_service_account_is_refused_what_its_role_does_not_allow(
    testbed: testbed_client.Testbed, namespace: str
) -> None:
    apply(
        testbed,
        namespace,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "rbac"},
            "spec": {
                "serviceAccountName": "reader",
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": IMAGE,
                        "command": python(RBAC_PROBE),
                        "terminationMessagePolicy": "FallbackToLogsOnError",
                    }
                ],
            },
        },
    )
    pod = eventually(
        lambda: (
            (p := testbed.get("pod", "rbac", "-n", namespace))["status"].get("phase")
            in {"Succeeded", "Failed"}
            and p
        ),
        timeout=90,
        what="the rbac pod to finish",
    )
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Succeeded", terminated.get("message")
    verdict = json.loads(terminated["message"])
    assert verdict == {"pods": 1, "secrets": 403}


def test_a_failing_liveness_probe_restarts_the_container(
    testbed: testbed_client.Testbed, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unhealthy"},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "main",
                    "image": IMAGE,
                    "command": python("import time; time.sleep(3600)"),
                    # Nothing listens on 8081: every probe fails.
                    "livenessProbe": {
                        "tcpSocket": {"port": 8081},
                        "periodSeconds": 1,
                        "failureThreshold": 2,
                    },
                }
            ],
        },
    }
    apply(testbed, namespace, pod)
    status = eventually(
        lambda: (
            (
                s := testbed.get("pod", "unhealthy", "-n", namespace)["status"].get(
                    "containerStatuses"
                )
            )
            and s[0]["restartCount"] >= 2
            and s[0]
        ),
        timeout=90,
        what="the container to be restarted twice",
    )
    last = status["lastState"]["terminated"]
    assert "failed liveness probe" in last["message"]
    assert testbed.pod_log(namespace, "unhealthy", "main").count("podrunner: start ") >= 3
