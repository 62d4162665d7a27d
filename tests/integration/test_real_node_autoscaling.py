"""CPU metrics and the HPA on the real node: metrics-server behind the metrics.k8s.io APIService, and
spec.serving.autoscaling answering real load while a rollout runs.

Runs on the bed of tests/integration/test_real_node.py (its fixtures);
the HPA controller's periods on that bed are short (testbed/cluster.py, HPA_CONTROLLER_ARGS).
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_real_node import IMAGE, _apply, _ready_pods, bed, ns, pytestmark
from tests.testbed_client import Testbed, eventually

__all__ = ["bed", "ns", "pytestmark"]  # the real node's fixtures and mark, shared


def _pod(name: str, *, script: str, cpu_limit: str) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": IMAGE,
        "command": ["sh", "-c", script],
        "resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": cpu_limit}},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 0},
    }


def _top_millicores(bed: Testbed, ns: str) -> dict[str, int]:
    """`kubectl top pods`: each pod's CPU in millicores, {} while metrics-server has none yet."""
    done = bed.kubectl("top", "pods", "-n", ns, "--no-headers", check=False)
    if done.returncode != 0:
        return {}
    cpu = {}
    for line in done.stdout.splitlines():
        name, value, _memory = line.split()
        match = re.fullmatch(r"(\d+)m", value)
        cpu[name] = int(match.group(1)) if match else int(value) * 1000
    return cpu


def test_kubectl_top_shows_the_cpu_each_pod_on_the_real_node_uses(bed: Testbed, ns: str) -> None:
    """A busy loop capped at 200m and an idle pod: metrics-server reads both from the kubelet."""
    _apply(
        bed,
        ns,
        _pod("busy", script="while :; do :; done", cpu_limit="200m"),
        _pod("idle", script="exec sleep 3600", cpu_limit="200m"),
    )
    for app in ("busy", "idle"):
        _ready_pods(bed, ns, app, 1)
    cpu = eventually(
        lambda: (top := _top_millicores(bed, ns)).keys() >= {"busy", "idle"} and top,
        timeout=90,
        what="kubectl top to list both pods",
    )
    # The CFS quota holds the loop at its 200m limit; metrics-server reports the rate it measured.
    assert 120 <= cpu["busy"] <= 230, cpu
    assert cpu["idle"] <= 10, cpu
    nodes = json.loads(bed.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes").stdout)
    assert [n["metadata"]["name"] for n in nodes["items"]] == ["node-real"], nodes


@dataclass(frozen=True)
class Sample:
    """One look at the two tracks: spec.replicas and ready pods of each, and the rollout's status."""

    at: float
    stable: int
    canary: int
    stable_ready: int
    canary_ready: int
    weight: int | None
    phase: str


class Sampler:
    """Records a Sample every second from a background thread, through the API client."""

    def __init__(self, bed: Testbed, ns: str) -> None:
        from kubernetes import client

        api = bed.api_client()
        self._apps, self._custom = client.AppsV1Api(api), client.CustomObjectsApi(api)
        self._ns = ns
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._apps.api_client.close()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(self.take())

    def take(self) -> Sample:
        deps = {
            d.metadata.name.removeprefix("iris-"): d
            for d in self._apps.list_namespaced_deployment(self._ns).items
        }
        md = self._custom.get_namespaced_custom_object(
            "modelrollout.io", "v1alpha1", self._ns, "modeldeployments", "iris"
        )
        st = md.get("status") or {}

        def count(track: str, *, ready: bool) -> int:
            d = deps.get(track)
            if d is None:
                return 0
            return int((d.status.ready_replicas if ready else d.spec.replicas) or 0)

        return Sample(
            at=time.monotonic(),
            stable=count("stable", ready=False),
            canary=count("canary", ready=False),
            stable_ready=count("stable", ready=True),
            canary_ready=count("canary", ready=True),
            weight=st.get("canaryWeight"),
            phase=st.get("phase", ""),
        )


class Load:
    """CPU load through the Service's ClusterIP from the host: wrk, one thread, `connections`
    closed-loop connections, each request on a new one (kube-proxy picks a pod per connection,
    so pods the HPA adds get their share at once). It stops by itself after MAX_LOAD_S."""

    def __init__(self, url: str, *, connections: int, workdir: Path) -> None:
        row = [5.1, 3.5, 1.4, 0.2]
        tensor = {"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}
        script = workdir / "infer.lua"
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            'wrk.headers["Connection"] = "close"\n'
            f"wrk.body = {json.dumps(json.dumps({'inputs': [tensor]}))}\n"
        )
        self._argv = ["wrk", "-t1", f"-c{connections}", f"-d{MAX_LOAD_S}s", "-s", str(script), url]
        self._proc: subprocess.Popen[str] | None = None
        self.answered = 0

    def __enter__(self) -> Load:
        self._proc = subprocess.Popen(
            self._argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._proc is not None
        # SIGINT: wrk stops and prints its summary ("N requests in ...").
        self._proc.send_signal(signal.SIGINT)
        out, _ = self._proc.communicate(timeout=30)
        match = re.search(r"(\d+) requests in", out)
        self.answered = int(match.group(1)) if match else 0


@pytest.fixture
def models(bed: Testbed, ns: str) -> Iterator[Path]:
    """The CRD and the demo models as the namespace's claim `models`."""
    from tests.e2e import support

    support.install_crd(bed)
    models = support.demo_models()
    volume = support.models_volume(bed, ns, models)
    yield models
    bed.kubectl("delete", "pv", volume, "--wait=false", check=False)


# The stable's bounds and each pod's CPU: the target (50% of a 50m request) is well below what a
# saturated pod uses even when the shared 2-core machine is busy (a 100m limit, of which a pod got
# 50m to 70m at a load average of 30), so the HPA raises the stable whatever else runs.
MIN_REPLICAS, MAX_REPLICAS, TARGET_CPU = 1, 4, 50
# wrk's connections: enough to keep every stable and canary pod busy.
CONNECTIONS = 8
# A forgotten load generator must not outlive the test.
MAX_LOAD_S = 600
# The operator follows a Deployment's change at its next turn (a watch event, or the 5 s resync).
FOLLOW_S = 8.0


def _iris(models: Path, *, version: str) -> dict[str, Any]:
    from tests.e2e import support

    md = support.model_deployment(
        name="iris", version=version, artifact=f"iris-{version}.skops",
        prometheus_url="", steps=[{"setWeight": 50}, {"pause": {}}], replicas=1,
    )  # fmt: skip
    md["spec"]["serving"] = {
        "replicas": 1,
        "resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": "100m"}},
        # A pod held at its CPU limit answers a probe behind the requests queued before it: with
        # the 1 s default timeout the kubelet restarted every pod after 30 s of load.
        "readinessProbe": {"timeoutSeconds": 5},
        "livenessProbe": {"timeoutSeconds": 10, "failureThreshold": 6},
        "autoscaling": {
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": MAX_REPLICAS,
            "targetCPU": TARGET_CPU,
        },
    }
    return md


def _rescales(bed: Testbed, ns: str) -> list[str]:
    events = bed.get(
        "events", "-n", ns, "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler"
    )
    return [e["message"] for e in events["items"] if e["reason"] == "SuccessfulRescale"]


def test_load_scales_the_stable_through_the_hpa_and_a_rollout_during_it_keeps_its_weight(
    bed: Testbed, ns: str, models: Path, tmp_path: Path
) -> None:
    """Load raises the stable (v1) through the HPA; v2's rollout starts at its step, while the new
    stable pods start, and pauses at 50%, the canary taking half the load; the load stops and the
    HPA scales the stable down. All along the canary follows the stable's count
    (within one pod of ready ones, exactly once the operator has turned), the weight stays 50."""
    from tests.e2e import support

    op = support.Operator(
        namespace=ns, kubeconfig=bed.kubeconfig, log=tmp_path / "operator.log",
        image=support.NODE_IMAGE,
    ).start()  # fmt: skip
    try:
        support.apply(bed, ns, _iris(models, version="v1"))
        support.wait_phase(bed, ns, "iris", {"Healthy"}, timeout=180)
        service = bed.get("service", "-n", ns, "iris")["spec"]
        url = f"http://{service['clusterIP']}:{service['ports'][0]['port']}/v2/models/iris/infer"
        with Sampler(bed, ns) as sampler:
            with Load(url, connections=CONNECTIONS, workdir=tmp_path) as load:
                loaded = time.monotonic()
                first = eventually(
                    lambda: (s := sampler.take()).stable >= 2 and s,
                    timeout=180,
                    what="the HPA to raise the stable under load",
                )
                started = time.monotonic()
                support.apply(bed, ns, _iris(models, version="v2"))
                # Started while the HPA's new stable pods still start; the canary follows the
                # stable's count to as many ready pods.
                eventually(
                    lambda: (
                        (s := sampler.take()).phase == "Paused"
                        and s.canary_ready == s.stable_ready == s.stable
                    ),
                    timeout=300,
                    what="paused at 50% with as many ready canary pods as stable ones",
                )
            answered = load.answered
            unloaded = time.monotonic()
            eventually(
                lambda: (s := sampler.take()).stable == MIN_REPLICAS and s.canary_ready == 1,
                timeout=240,
                what="the HPA to scale the stable down without load, the canary following",
            )
            time.sleep(FOLLOW_S)
        rescales = _rescales(bed, ns)
    finally:
        op.stop()
    _report(sampler.samples, loaded=loaded, started=started, unloaded=unloaded)
    assert answered > 0, "no request was answered under load"
    # Scaled by the HPA on the CPU it measured, up then down.
    assert any("cpu resource utilization" in m and "above target" in m for m in rescales), rescales
    assert any("below target" in m for m in rescales), rescales

    during = [s for s in sampler.samples if s.at >= started]
    with_canary = [s for s in during if s.canary > 0]
    # The HPA scaled the stable while the rollout ran: from its count under load, down to the
    # minimum without it.
    stables = [s.stable for s in with_canary]
    assert stables[0] >= first.stable > MIN_REPLICAS, stables
    assert stables[-1] == MIN_REPLICAS, stables
    changed_at = [b.at for a, b in itertools.pairwise(during) if a.stable != b.stable]
    # The operator's first turn makes the canary before its status says 50; from then on:
    for s in itertools.dropwhile(lambda s: s.weight != 50, with_canary):
        # Never undone by the HPA: the requested weight holds and nothing promotes or aborts it.
        assert s.weight == 50, s
        assert s.phase in {"Progressing", "Paused"}, s
        if any(0 <= s.at - t <= FOLLOW_S for t in changed_at):
            continue  # the operator's turn after the HPA's step
        # At 50% the canary has as many pods as the stable the HPA sized; once the step is
        # reached (Paused: its pods were ready), the ready ones stay within one pod of that.
        assert s.canary == s.stable, s
        if s.phase == "Paused":
            assert abs(s.canary_ready - s.stable_ready) <= 1, s
    final = sampler.samples[-1]
    assert (final.stable, final.canary, final.phase) == (MIN_REPLICAS, MIN_REPLICAS, "Paused")


def _report(samples: list[Sample], *, loaded: float, started: float, unloaded: float) -> None:
    # The series, for the log of a run (pytest -s): seconds since the load began.
    for s in samples:
        mark = " rollout" if started <= s.at < unloaded else ""
        mark += " (load off)" if s.at >= unloaded else ""
        print(
            f"t={s.at - loaded:6.1f}s stable {s.stable_ready}/{s.stable} canary "
            f"{s.canary_ready}/{s.canary} weight {s.weight} {s.phase}{mark}"
        )
