"""The test bed's real node: real containers, pod IPs, Services, DNS, restarts and OOM kills.

Runs (root, Debian's containerd, `build-binaries.sh node`) on the session's bed (tests/conftest.py),
shared with the e2e tests and taken down at the end of the session unless
MODEL_ROLLOUT_KEEP_TESTBED=1.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.testbed_client import Testbed, eventually

pytestmark = [pytest.mark.integration]

IMAGE = "docker.io/library/busybox:testbed"


@pytest.fixture(scope="module")
def bed(testbed: Testbed, tmp_path_factory: pytest.TempPathFactory) -> Testbed:
    from testbed import node, node_image

    archive = tmp_path_factory.mktemp("images") / "busybox.tar"
    node.import_image(
        node.layout(testbed.name),
        node_image.write_archive(node_image.busybox(name=IMAGE), archive),
    )
    return testbed


@pytest.fixture
def ns(bed: Testbed) -> Iterator[str]:
    name = f"rn-{uuid.uuid4().hex[:8]}"
    bed.kubectl("create", "namespace", name)
    yield name
    bed.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _apply(bed: Testbed, ns: str, *objects: dict[str, Any]) -> None:
    bed.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=json.dumps({"kind": "List", "apiVersion": "v1", "items": list(objects)}),
    )


def _web(name: str, *, replicas: int) -> list[dict[str, Any]]:
    """A Deployment of busybox httpd pods that answer with their own name, and its Service."""
    script = f"echo $(hostname) > /var/www/index.html; echo {name} serving; exec httpd -f -v -p 8080 -h /var/www"
    container = {
        "name": "web",
        "image": IMAGE,
        "command": ["sh", "-c", script],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
    }
    labels = {"app": name}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    return [deployment, service]


def _ready_pods(bed: Testbed, ns: str, app: str, count: int) -> list[dict[str, Any]]:
    def ready() -> list[dict[str, Any]] | None:
        pods = bed.get("pods", "-n", ns, "-l", f"app={app}")["items"]
        ok = [
            p
            for p in pods
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions", [])
            )
        ]
        return ok if len(ok) == count else None

    result: list[dict[str, Any]] = eventually(ready, timeout=90, what=f"{count} Ready {app} pods")
    return result


def _pod(bed: Testbed, ns: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = bed.get("pod", "-n", ns, name)
    return result


def _container_pid(bed: Testbed, pod: dict[str, Any]) -> int:
    """The host pid of the pod's first container, as containerd reports it."""
    from testbed import node, paths

    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    socket = node.layout(bed.name).containerd_socket
    inspect = subprocess.run(
        [
            str(paths.BIN / "crictl"),
            "--runtime-endpoint",
            f"unix://{socket}",
            "inspect",
            container_id,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(inspect.stdout)["info"]["pid"])


def _curl(url: str) -> str:
    done = subprocess.run(
        ["curl", "-sS", "-m", "3", url], capture_output=True, text=True, timeout=10, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


@pytest.fixture
def models(bed: Testbed, ns: str) -> Iterator[Path]:
    """The CRD, a restricted namespace, and the demo models as its claim `models`."""
    from tests.e2e import support

    bed.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    support.install_crd(bed)
    models = support.demo_models()
    volume = support.models_volume(bed, ns, models)
    yield models
    bed.kubectl("delete", "pv", volume, "--wait=false", check=False)


def test_a_pod_runs_from_a_local_image_with_a_routable_ip_and_its_logs(
    bed: Testbed, ns: str
) -> None:
    _apply(bed, ns, *_web("web", replicas=1))
    (pod,) = _ready_pods(bed, ns, "web", 1)
    assert pod["spec"]["nodeName"] == "node-real"
    ip = ipaddress.ip_address(pod["status"]["podIP"])
    assert not ip.is_loopback
    assert ip.is_private
    # Straight to the pod's address from the host: a real network namespace behind a bridge.
    assert _curl(f"http://{ip}:8080/") == pod["metadata"]["name"]
    logs = bed.kubectl("logs", "-n", ns, pod["metadata"]["name"]).stdout
    assert "web serving" in logs


def test_a_cluster_ip_balances_over_the_pods_from_the_host_and_from_a_pod_by_dns_name(
    bed: Testbed, ns: str
) -> None:
    _apply(bed, ns, *_web("web", replicas=2))
    pods = _ready_pods(bed, ns, "web", 2)
    names = {p["metadata"]["name"] for p in pods}
    ips = {p["status"]["podIP"] for p in pods}

    def sliced() -> set[str] | None:
        slices = bed.get("endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web")
        got = {a for s in slices["items"] for e in s.get("endpoints") or [] for a in e["addresses"]}
        return got if got == ips else None

    eventually(sliced, timeout=30, what="both pod IPs in the Service's EndpointSlice")
    cluster_ip = bed.get("service", "-n", ns, "web")["spec"]["clusterIP"]

    def both_answer() -> set[str] | None:
        seen = {_curl(f"http://{cluster_ip}/") for _ in range(30)}
        return seen if names <= seen else None

    eventually(both_answer, timeout=30, what="both pods answering on the ClusterIP")
    client = next(iter(names))
    # wget resolves `web.<ns>` through the pod's search list; busybox nslookup takes names as given.
    fetch = f"for i in $(seq 30); do wget -q -O- http://web.{ns}/; done; nslookup web.{ns}.svc.cluster.local"
    out = bed.kubectl("exec", "-n", ns, client, "--", "sh", "-c", fetch).stdout
    assert names <= set(out.split()), out
    assert cluster_ip in out


def test_a_pod_queries_the_beds_prometheus_as_prometheus_monitoring(bed: Testbed, ns: str) -> None:
    """The address the example manifests name: a Service in front of the host's Prometheus, reached
    from inside a pod by its DNS name through kube-proxy."""
    from testbed import prometheus

    _apply(bed, ns, *_web("web", replicas=1))
    (pod,) = _ready_pods(bed, ns, "web", 1)
    url = f"{prometheus.IN_CLUSTER_URL}/api/v1/query?query=vector(42)"
    out = bed.kubectl("exec", "-n", ns, pod["metadata"]["name"], "--", "wget", "-q", "-O-", url)
    answer = json.loads(out.stdout)
    assert answer["status"] == "success", answer
    assert answer["data"]["result"][0]["value"][1] == "42", answer


def test_a_killed_container_is_restarted_by_the_kubelet(bed: Testbed, ns: str) -> None:
    _apply(bed, ns, *_web("web", replicas=1))
    (pod,) = _ready_pods(bed, ns, "web", 1)
    name = pod["metadata"]["name"]
    os.kill(_container_pid(bed, pod), signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        status = _pod(bed, ns, name)["status"]["containerStatuses"][0]
        return status if status["restartCount"] >= 1 and status.get("ready") else None

    status = eventually(restarted, timeout=60, what="the killed container restarted and Ready")
    assert status["lastState"]["terminated"]["exitCode"] == 128 + signal.SIGKILL


def test_a_container_over_its_memory_limit_is_oom_killed(bed: Testbed, ns: str) -> None:
    # busybox tail keeps an endless line in memory: 200 MiB against a 32 MiB limit.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hog"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "hog",
                    "image": IMAGE,
                    "command": ["sh", "-c", "head -c 200000000 /dev/zero | tail"],
                    "resources": {"limits": {"memory": "32Mi"}},
                }
            ],
        },
    }
    _apply(bed, ns, pod)

    def terminated() -> dict[str, Any] | None:
        status = _pod(bed, ns, "hog")["status"]
        states = status.get("containerStatuses") or [{}]
        done: dict[str, Any] | None = states[0].get("state", {}).get("terminated")
        return done

    done = eventually(terminated, timeout=60, what="the memory hog terminated")
    assert done["reason"] == "OOMKilled", done
    eventually(
        lambda: _pod(bed, ns, "hog")["status"]["phase"] == "Failed",
        timeout=30,
        what="the OOM-killed pod Failed (restartPolicy Never)",
    )


_IN_CLUSTER_CLIENT = """
import http.client, json, ssl, sys
ca, token = sys.argv[1], open(sys.argv[2]).read()
ctx = ssl.create_default_context(cafile=ca)  # checks the certificate names the Service's IP
conn = http.client.HTTPSConnection(sys.argv[3], 443, context=ctx, timeout=10)
body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
conn.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body, headers)
print(json.load(conn.getresponse())["status"]["userInfo"]["username"])
"""


def test_a_pod_reaches_the_api_server_through_the_kubernetes_service_as_its_service_account(
    bed: Testbed, ns: str, tmp_path: Path
) -> None:
    from testbed import cluster

    _apply(bed, ns, *_web("web", replicas=1))
    (pod,) = _ready_pods(bed, ns, "web", 1)
    name = pod["metadata"]["name"]
    env = bed.kubectl("exec", "-n", ns, name, "--", "env").stdout
    assert f"KUBERNETES_SERVICE_HOST={cluster.KUBERNETES_SERVICE_IP}" in env
    secrets = "/var/run/secrets/kubernetes.io/serviceaccount"
    for f in ("ca.crt", "token"):
        (tmp_path / f).write_text(
            bed.kubectl("exec", "-n", ns, name, "--", "cat", f"{secrets}/{f}").stdout
        )
    # An in-cluster client's view: the pod's own network namespace, its mounted token and CA.
    pid = _container_pid(bed, pod)
    done = subprocess.run(
        [
            "nsenter",
            "-t",
            str(pid),
            "-n",
            sys.executable,
            "-c",
            _IN_CLUSTER_CLIENT,
            str(tmp_path / "ca.crt"),
            str(tmp_path / "token"),
            cluster.KUBERNETES_SERVICE_IP,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"system:serviceaccount:{ns}:default"


def test_a_model_server_from_the_image_serves_under_the_restricted_profile_and_is_scraped(
    bed: Testbed, ns: str, models: Path, tmp_path: Path
) -> None:
    """The operator's server Deployment, from localhost/model-rollout:dev, the model on a PVC."""
    from tests.e2e import support

    manifest = support.model_deployment(
        name="iris", version="v1", artifact="iris-v1.skops",
        prometheus_url=bed.prometheus_url, replicas=1,
    )  # fmt: skip
    op = support.Operator(
        namespace=ns, kubeconfig=bed.kubeconfig, log=tmp_path / "operator.log",
        image=support.NODE_IMAGE,
    ).start()  # fmt: skip
    try:
        support.apply(bed, ns, manifest)
        support.wait_phase(bed, ns, "iris", {"Healthy"})
        # A second version is validated by a Job from the same image, reading the PVC's dataset.
        manifest["spec"]["model"].update(version="v2", uri="pvc://models/models/iris-v2.skops")
        manifest["spec"]["validation"] = {
            "dataset": {"uri": "pvc://models/data/iris-test.csv", "target": "species"},
            "thresholds": {"accuracy": {"min": 0.9}},
            "timeout": "3m",
        }
        support.apply(bed, ns, manifest)
        eventually(
            lambda: support.status(bed, ns, "iris").get("stableVersion") == "v2",
            timeout=180,
            what="v2, validated, to become stable",
        )
        st = support.status(bed, ns, "iris")
        assert st["phase"] == "Healthy", st
        assert st["validation"]["passed"] is True, st
        # The operator deletes the finished Job; only the real node runs pods on this bed.
        assert not bed.get("jobs", "-n", ns)["items"]
    finally:
        op.stop()
    # The stable pod; a promoted canary's pod may still be terminating beside it.
    pods = bed.get(
        "pods", "-n", ns, "-l", "app.kubernetes.io/name=iris,modelrollout.io/track=stable"
    )
    (pod,) = [p for p in pods["items"] if "deletionTimestamp" not in p["metadata"]]
    assert pod["spec"]["nodeName"] == "node-real"
    assert pod["spec"]["containers"][0]["image"] == support.NODE_IMAGE
    pod_ip = pod["status"]["podIP"]
    assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network("10.244.0.0/16")
    service = bed.get("service", "-n", ns, "iris")["spec"]
    url = f"http://{service['clusterIP']}:{service['ports'][0]['port']}/v2/models/iris"
    answer = json.loads(_curl(url) or "{}")
    assert answer.get("name") == "iris", answer

    def scraped() -> bool:
        return any(r["value"][1] == "1" for r in bed.query(f'up{{instance=~"{pod_ip}:.*"}}'))

    eventually(scraped, timeout=30, what=f"Prometheus scraping {pod_ip}")


def _infer_through(url: str) -> str:
    """One OIP v2 request on a new connection (kube-proxy picks an endpoint per connection):
    the version that answered, from the response body."""
    body = json.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
            ]
        }
    )
    done = subprocess.run(
        ["curl", "-sS", "-m", "5", "-H", "Content-Type: application/json", "-d", body, url],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if done.returncode != 0:
        return f"error: {done.stderr.strip()}"
    return str(json.loads(done.stdout).get("model_version", "none"))


def _pod_requests(pod_ip: str, port: int) -> float:
    """The server's own count of the inference requests it answered (model_requests_total)."""
    text = _curl(f"http://{pod_ip}:{port}/metrics")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("model_requests_total{")
    )


def _measure_shares(
    bed: Testbed, ns: str, *, pods: int, requests: int
) -> tuple[dict[str, int], dict[str, float]]:
    """Requests through the `iris` Service's ClusterIP, once the EndpointSlice holds `pods` ready
    endpoints: answers by version (response bodies) and by version from each pod's own counter."""
    from concurrent.futures import ThreadPoolExecutor

    def ready_endpoints() -> list[str] | None:
        slices = bed.get("endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=iris")
        got = [
            a
            for s in slices["items"]
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
            for a in e["addresses"]
        ]
        return got if len(got) == pods else None

    eventually(ready_endpoints, timeout=120, what=f"{pods} ready endpoints behind iris")
    items = bed.get("pods", "-n", ns, "-l", "app.kubernetes.io/name=iris")["items"]
    serving = {
        p["status"]["podIP"]: p["metadata"]["labels"]["modelrollout.io/version"]
        for p in items
        if "deletionTimestamp" not in p["metadata"] and p["status"].get("podIP")
    }
    port = items[0]["spec"]["containers"][0]["ports"][0]["containerPort"]
    service = bed.get("service", "-n", ns, "iris")["spec"]
    url = f"http://{service['clusterIP']}:{service['ports'][0]['port']}/v2/models/iris/infer"
    # kube-proxy applies a new EndpointSlice within about a second; a few answers prove it routes.
    eventually(lambda: _infer_through(url) in set(serving.values()), timeout=30, what="an answer")
    time.sleep(2)
    before = {ip: _pod_requests(ip, port) for ip in serving}
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: _infer_through(url), range(requests)))
    after = {ip: _pod_requests(ip, port) for ip in serving}
    by_body = {v: answers.count(v) for v in set(answers)}
    by_counter: dict[str, float] = {}
    for ip, version in serving.items():
        by_counter[version] = by_counter.get(version, 0.0) + after[ip] - before[ip]
    return by_body, by_counter


def test_canary_traffic_through_the_cluster_ip_follows_the_weight_at_20_and_50(
    bed: Testbed, ns: str, models: Path, tmp_path: Path
) -> None:
    """Replica ratio on a real node: 4 stable pods plus 1 canary at 20%, plus 4 at 50%, and
    kube-proxy spreading new connections over the Service's endpoints gives those shares."""
    from testbed import paths
    from tests.e2e import support

    manifest = support.model_deployment(
        name="iris", version="v1", artifact="iris-v1.skops",
        prometheus_url=bed.prometheus_url, replicas=4,
        steps=[{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}],
    )  # fmt: skip
    op = support.Operator(
        namespace=ns, kubeconfig=bed.kubeconfig, log=tmp_path / "operator.log",
        image=support.NODE_IMAGE,
    ).start()  # fmt: skip
    shares: dict[int, tuple[dict[str, int], dict[str, float]]] = {}
    try:
        support.apply(bed, ns, manifest)
        support.wait_phase(bed, ns, "iris", {"Healthy"}, timeout=240)
        manifest["spec"]["model"].update(version="v2", uri="pvc://models/models/iris-v2.skops")
        support.apply(bed, ns, manifest)
        for weight, pods in ((20, 5), (50, 8)):
            eventually(
                lambda w=weight: (
                    (st := support.status(bed, ns, "iris")).get("phase") == "Paused"
                    and st.get("canaryWeight") == w
                    and st.get("actualCanaryWeight") == w
                ),
                timeout=240,
                what=f"the rollout paused at {weight}% with {weight}% of ready endpoints",
            )
            shares[weight] = _measure_shares(bed, ns, pods=pods, requests=1000)
            if weight == 20:
                plugin = str(paths.VENV_BIN / "kubectl-model_rollout")
                subprocess.run(
                    [plugin, "--kubeconfig", str(bed.kubeconfig), "-n", ns, "promote", "iris"],
                    check=True, capture_output=True, timeout=30,
                )  # fmt: skip
    finally:
        op.stop()
    print(f"measured shares through the ClusterIP: {shares}")
    for weight, (by_body, by_counter) in shares.items():
        answered = by_body.get("v1", 0) + by_body.get("v2", 0)
        assert answered == sum(by_body.values()), by_body  # every request answered by a version
        canary = 100 * by_body.get("v2", 0) / answered
        assert abs(canary - weight) <= 5, (weight, by_body)
        counted = 100 * by_counter.get("v2", 0) / sum(by_counter.values())
        assert abs(counted - weight) <= 5, (weight, by_counter)
        assert abs(sum(by_counter.values()) - answered) <= 0.01 * answered, (by_body, by_counter)


def _memory_hungry_model(models: Path) -> str:
    """A version that needs about 620 MB to load (a 1-NN holding 6M rows), where iris-v1 takes 160."""
    path = models / "models" / "iris-memory-hungry.skops"
    if not path.exists():
        import numpy as np
        import skops.io
        from sklearn.neighbors import KNeighborsClassifier

        rows = 6_000_000
        model = KNeighborsClassifier(n_neighbors=1, algorithm="brute")
        model.fit(np.zeros((rows, 4)), np.arange(rows) % 3)
        skops.io.dump(model, path.with_suffix(".partial"))
        path.with_suffix(".partial").rename(path)
    return "pvc://models/models/" + path.name


def test_a_canary_over_its_memory_limit_is_oom_killed_and_rolled_back_the_stable_serving_on(
    bed: Testbed, ns: str, models: Path, tmp_path: Path
) -> None:
    """The kernel kills the new version for memory under the limit both tracks share; the operator
    rolls back at once (CanaryCrashed naming the container and OOMKilled), not after the progress
    deadline, and the stable pods are the same pods, never restarted, answering every request.

    What the kubelet reported comes from a watch of the canary's pods started before v2 is applied:
    the rollback deletes the killed pod, often before a poll would have seen its status."""
    from tests.e2e import support
    from tests.integration import pod_history

    manifest = support.model_deployment(
        name="iris", version="v1", artifact="iris-v1.skops",
        prometheus_url=bed.prometheus_url, replicas=2,
        steps=[{"setWeight": 20}, {"pause": {}}],
    )  # fmt: skip
    manifest["spec"]["serving"]["resources"] = {"limits": {"memory": "320Mi"}}
    hungry = _memory_hungry_model(models)
    op = support.Operator(
        namespace=ns, kubeconfig=bed.kubeconfig, log=tmp_path / "operator.log",
        image=support.NODE_IMAGE,
    ).start()  # fmt: skip
    canary = "app.kubernetes.io/name=iris,modelrollout.io/track=canary"
    try:
        support.apply(bed, ns, manifest)
        support.wait_phase(bed, ns, "iris", {"Healthy"}, timeout=240)
        stable_before = _track_pods(bed, ns, "stable")
        with pod_history.PodHistory(bed.api_client(), namespace=ns, selector=canary) as seen:
            manifest["spec"]["model"].update(version="v2", uri=hungry)
            support.apply(bed, ns, manifest)
            applied = time.monotonic()

            def rolled_back() -> dict[str, Any] | None:
                st = support.status(bed, ns, "iris")
                return st if st.get("phase") in {"RolledBack", "Failed"} else None

            st = eventually(rolled_back, timeout=180, interval=0.5, what="v2 to be rolled back")
            reacted = time.monotonic() - applied
        stable_after = _track_pods(bed, ns, "stable")
    finally:
        op.stop()
    killed = seen.ended(reason="OOMKilled")
    print(f"OOMKilled {killed[:1]}; rolled back {reacted:.0f}s after the apply; "
          f"canary pod events {seen.events}")  # fmt: skip
    assert killed, f"the kubelet never reported the canary OOMKilled: {seen.events}"
    assert st["phase"] == "RolledBack", st
    assert st["stableVersion"] == "v1", st
    assert st["canaryWeight"] == 0, st
    last = st["history"][-1]
    assert (last["version"], last["outcome"], last["reason"]) == (
        "v2",
        "RolledBack",
        "CanaryCrashed",
    )
    # The pod the operator names is one the kubelet reported OOM-killed.
    named = [
        k
        for k in killed
        if f"container {k['container']} of pod {k['pod']} was OOMKilled" in last["message"]
    ]
    assert named, (last, killed)
    crashed = [e for e in support.events(bed, ns, "iris") if e["reason"] == "CanaryCrashed"]
    assert crashed, support.events(bed, ns, "iris")
    assert crashed[0]["type"] == "Warning", crashed
    # The same stable pods, never restarted, and all traffic answered by v1.
    assert stable_after.keys() == stable_before.keys()
    for pod in stable_after.values():
        assert all(c["restartCount"] == 0 for c in pod["status"]["containerStatuses"]), pod
    service = bed.get("service", "-n", ns, "iris")["spec"]
    url = f"http://{service['clusterIP']}:{service['ports'][0]['port']}/v2/models/iris/infer"
    assert {_infer_through(url) for _ in range(40)} == {"v1"}


def _track_pods(bed: Testbed, ns: str, track: str) -> dict[str, dict[str, Any]]:
    selector = f"app.kubernetes.io/name=iris,modelrollout.io/track={track}"
    items = bed.get("pods", "-n", ns, "-l", selector)["items"]
    return {p["metadata"]["name"]: p for p in items if "deletionTimestamp" not in p["metadata"]}


def _helm(bed: Testbed, *args: str) -> str:
    from testbed import paths

    done = subprocess.run(
        [str(paths.BIN / "helm"), "--kubeconfig", str(bed.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"helm {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_the_chart_runs_the_operator_from_the_image_in_a_pod_which_rolls_out_and_rolls_back(
    bed: Testbed, ns: str, models: Path
) -> None:
    """helm install from charts/ with localhost/model-rollout:dev: the operator runs in a container
    under the restricted profile (non-root, read-only root), in-cluster config and the chart's RBAC;
    it promotes v2, then rolls v3 back on its own when the kernel OOM-kills v3's canary."""
    from tests.e2e import support

    chart = support.REPO / "charts" / "model-rollout"
    image = support.NODE_IMAGE.split(":")
    _helm(
        bed, "install", "mr", str(chart), "-n", ns, "--set", f"image.repository={image[0]}",
        "--set", f"image.tag={image[1]}", "--set", "image.pullPolicy=Never",
        "--set", f"watchNamespaces={{{ns}}}", "--set", "operator.idleResyncSeconds=5",
    )  # fmt: skip
    selector = "app.kubernetes.io/component=operator"

    def ready() -> dict[str, Any] | None:
        for pod in bed.get("pods", "-n", ns, "-l", selector)["items"]:
            conditions = pod.get("status", {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return dict(pod)
        return None

    try:
        op = eventually(ready, timeout=120, what="the operator pod Ready")
    except AssertionError as e:
        pods = bed.get("pods", "-n", ns, "-l", selector)["items"]
        logs = [
            bed.kubectl("logs", "-n", ns, p["metadata"]["name"], flag, check=False).stdout[-4000:]
            for p in pods
            for flag in ("--previous", "--tail=40")
        ]
        raise AssertionError(f"{e}: {[p['status'] for p in pods]}\nlogs: {logs}") from e
    name = op["metadata"]["name"]
    container = op["spec"]["containers"][0]
    assert container["image"] == support.NODE_IMAGE
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert op["spec"]["securityContext"]["runAsNonRoot"] is True

    def inside(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done: subprocess.CompletedProcess[str] = bed.kubectl(
            "exec", "-n", ns, name, "--", *cmd, check=check
        )
        return done

    assert inside("model-rollout", "--version").stdout.strip() == _version()
    assert inside("id", "-u").stdout.strip() == "65532"
    refused = inside("touch", "/written", check=False)
    assert refused.returncode != 0
    assert "Read-only file system" in refused.stderr

    steps = [{"setWeight": 50}, {"pause": {"duration": "2s"}}]
    manifest = support.model_deployment(
        name="iris", version="v1", artifact="iris-v1.skops",
        prometheus_url=bed.prometheus_url, replicas=1, steps=steps,
    )  # fmt: skip
    manifest["spec"]["serving"]["resources"] = {"limits": {"memory": "320Mi"}}
    hungry = _memory_hungry_model(models)
    try:
        for version, uri, phase in (
            ("v1", "pvc://models/models/iris-v1.skops", "Healthy"),
            ("v2", "pvc://models/models/iris-v2.skops", "Healthy"),
            ("v3", hungry, "RolledBack"),
        ):
            manifest["spec"]["model"].update(version=version, uri=uri)
            support.apply(bed, ns, manifest)
            generation = bed.get("md", "iris", "-n", ns)["metadata"]["generation"]

            def settled(g: int = generation) -> dict[str, Any] | None:
                st = support.status(bed, ns, "iris")
                done = st.get("phase") in {"Healthy", "RolledBack", "Failed"}
                return st if done and st.get("observedGeneration") == g else None

            st = eventually(settled, timeout=240, interval=1, what=f"{version} to settle")
            assert st["phase"] == phase, st
    except AssertionError as e:
        log = bed.kubectl("logs", "-n", ns, name, "--tail=60", check=False).stdout
        raise AssertionError(f"{e}\noperator log:\n{log}") from e
    assert st["stableVersion"] == "v2", st
    assert st["history"][-1]["reason"] == "CanaryCrashed", st
    assert st["history"][-2]["outcome"] == "Promoted", st
    # The chart's RBAC covers everything the operator does: its log has no refusal.
    log = bed.kubectl("logs", "-n", ns, name, check=False).stdout
    assert "Forbidden" not in log
    assert "failed; listing again" not in log
    bed.kubectl(
        "delete", "md", "iris", "-n", ns, "--timeout=60s"
    )  # kopf's finalizer, while it runs
    _helm(bed, "uninstall", "mr", "-n", ns, "--wait")


def _version() -> str:
    from importlib.metadata import version

    return version("model-rollout")


def test_the_kind_workflows_steps_run_on_the_local_bed(bed: Testbed, ns: str) -> None:
    """.github/scripts/e2e-steps.sh, the steps .github/workflows/e2e.yaml runs on kind, in its
    order, here: the image built by buildah and loaded into the node's containerd instead."""
    from testbed import node, paths
    from tests import e2e_steps

    operator_ns = f"{ns}-op"
    env = {
        **os.environ,
        "PATH": f"{paths.BIN}:{os.environ['PATH']}",
        "KUBECONFIG": str(bed.kubeconfig),
        "CONTAINERD_ADDRESS": str(node.layout(bed.name).containerd_socket),
        "IMAGE_REPOSITORY": "localhost/model-rollout",
        "IMAGE_TAG": "dev",
        "OPERATOR_NAMESPACE": operator_ns,
        "APP_NAMESPACE": ns,
        "WAIT": "5m",
    }

    def run(step: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(e2e_steps.SCRIPT), step], env=env, capture_output=True, text=True,
            timeout=900, check=False,
        )  # fmt: skip

    steps = e2e_steps.script_steps()
    assert steps[:3] == ["build", "load", "install"], steps
    try:
        for step in steps:
            started = time.monotonic()
            done = run(step)
            print(f"e2e-steps.sh {step}: {time.monotonic() - started:.0f}s, exit {done.returncode}")
            if done.returncode != 0:
                report = run("diagnostics").stdout[-6000:]
                raise AssertionError(
                    f"e2e-steps.sh {step} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                    f"{done.stderr[-3000:]}\ndiagnostics:\n{report}"
                )
            if step == "install":
                assert f"model-rollout {_version()}" in done.stderr, done.stderr
    finally:
        run("uninstall")
        bed.kubectl("delete", "namespace", operator_ns, "--wait=false", check=False)
