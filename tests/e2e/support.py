"""End-to-end support: the demo models, the operator as a real process, ModelDeployment manifests."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testbed import paths, procs
from tests.e2e.traffic import TrafficGenerator

REPO = paths.REPO
# Kept with the test bed's cache, so every session (and worktree) trains them once.
MODELS_HOME = paths.CACHE / "test-models"
# The image as the real node's containerd holds it (testbed/build-image.sh names it so).
NODE_IMAGE = "localhost/model-rollout:dev"
# The pods read the demo models from this claim of their namespace, a hostPath volume on the
# models' folder (models_volume), as `pvc://models/<path>`.
MODELS_CLAIM = "models"
# Where the example manifests expect the demo models (the image's copy); tests put uri() there.
EXAMPLES_PREFIX = "file:///opt/model-rollout/examples/"


def demo_models() -> Path:
    """examples/make_models.py's output, made once per version of that script."""
    script = REPO / "examples" / "make_models.py"
    digest = hashlib.sha256(script.read_bytes()).hexdigest()[:12]
    out = MODELS_HOME / digest
    if not (out / "done").exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(script), "--out", str(out)], check=True, timeout=600)
        (out / "done").write_text("ok")
    return out


def uri(path: str) -> str:
    """Where pods find `path` (relative to the demo models' folder): in the namespace's claim."""
    return f"pvc://{MODELS_CLAIM}/{path}"


def claims_root(models: Path) -> Path:
    """A folder holding MODELS_CLAIM -> `models`: the operator on the host sees the claim there, as
    an operator's pod would see it mounted at $MODEL_ROLLOUT_PVC_ROOT/<claim>."""
    root = MODELS_HOME / "claims" / models.name
    link = root / MODELS_CLAIM
    if not link.is_symlink():
        root.mkdir(parents=True, exist_ok=True)
        staged = root / f".{MODELS_CLAIM}.{os.getpid()}"
        staged.unlink(missing_ok=True)
        staged.symlink_to(models)
        staged.rename(link)  # atomic: another session may make the same link at once
    return root


def models_volume(testbed: Any, namespace: str, models: Path) -> str:
    """Puts the models' folder in `namespace` as the claim MODELS_CLAIM; returns the volume's name.

    A hostPath PersistentVolume bound to the claim up front (no provisioner runs); it is read-only
    in the pods, while tests may still add files to the folder from the host.
    """
    volume = f"{namespace}-{MODELS_CLAIM}"
    access = {"accessModes": ["ReadOnlyMany"], "storageClassName": ""}
    objects = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume, "labels": {"modelrollout.io/test": "true"}},
            "spec": {
                **access,
                "capacity": {"storage": "1Gi"},
                "hostPath": {"path": str(models), "type": "Directory"},
                "claimRef": {"namespace": namespace, "name": MODELS_CLAIM},
                "persistentVolumeReclaimPolicy": "Retain",
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": MODELS_CLAIM, "namespace": namespace},
            "spec": {
                **access,
                "resources": {"requests": {"storage": "1Gi"}},
                "volumeName": volume,
            },
        },
    ]
    testbed.kubectl(
        "apply", "-f", "-", input=json.dumps({"kind": "List", "apiVersion": "v1", "items": objects})
    )
    return volume


def install_crd(testbed: Any) -> None:
    """Applies the project's CRD and waits until it is Established."""
    testbed.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    # Right after creation the CRD has no conditions yet, which `kubectl wait` takes as a failure.
    deadline = time.monotonic() + 60
    while testbed.kubectl(
        "wait", "--for=condition=Established", "crd/modeldeployments.modelrollout.io",
        "--timeout=30s", check=False,
    ).returncode:  # fmt: skip
        if time.monotonic() > deadline:
            raise AssertionError("the ModelDeployment CRD was not Established within 60 s")
        time.sleep(0.5)
    # Established comes before the resource's storage is ready: until then a request is answered
    # 429 "storage is (re)initializing" (seen once on a fresh bed, failing the first test's apply).
    while testbed.kubectl("get", "modeldeployments", "-A", check=False).returncode:
        if time.monotonic() > deadline:
            raise AssertionError("ModelDeployments could not be listed within 60 s of the CRD")
        time.sleep(0.5)


def read_rows(path: Path, *, target: str) -> tuple[list[list[float]], list[str]]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    features = [k for k in rows[0] if k != target]
    return [[float(r[k]) for k in features] for r in rows], [r[target] for r in rows]


def traffic(
    testbed: Any,
    namespace: str,
    *,
    rows: Sequence[Sequence[float]],
    truth: Sequence[Any],
    service: str = "iris",
    rate_per_s: float = 20,
    seed: int = 7,
) -> TrafficGenerator:
    """Live traffic to `service` of the ModelDeployment `iris` (its ClusterIP), with feedback."""
    return TrafficGenerator(
        testbed.api_client(), namespace=namespace, service=service, model="iris",
        rows=rows, truth=truth, rate_per_s=rate_per_s, seed=seed,
    )  # fmt: skip


@dataclass
class Operator:
    """`model-rollout operator` for one namespace, as a real process that can be killed and restarted."""

    namespace: str
    kubeconfig: Path
    log: Path
    image: str = NODE_IMAGE
    port: int = field(default_factory=procs.free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            # pvc:// folders (a directory source) are read where the claim is
            "MODEL_ROLLOUT_PVC_ROOT": str(claims_root(demo_models())),
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(paths.VENV_BIN / "model-rollout"),
                    "operator",
                    "--namespace",
                    self.namespace,
                    "--image",
                    self.image,
                    "--metrics-address",
                    f"127.0.0.1:{self.port}",
                    "--idle-resync-seconds",
                    "5",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        procs.wait_for_port(
            host="127.0.0.1", port=self.port, timeout=60, what="the operator", log=self.log
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, as when a node dies; all that survives is in status."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())


def model_deployment(
    *,
    name: str,
    version: str,
    artifact: str,
    prometheus_url: str,
    validation: dict[str, Any] | None = None,
    steps: list[dict[str, Any]] | None = None,
    metrics: list[dict[str, Any]] | None = None,
    analysis: dict[str, Any] | None = None,
    replicas: int = 2,
    rollback: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": {"name": "iris", "version": version, "uri": uri(f"models/{artifact}")},
        "serving": {"replicas": replicas},
        "rollout": {"steps": steps or [], "progressDeadline": "3m"},
    }
    if validation is not None:
        spec["validation"] = validation
    if metrics is not None:
        spec["analysis"] = {
            "prometheus": {"address": prometheus_url},
            "interval": "5s",
            "count": 4,
            "failureLimit": 0,
            "inconclusiveLimit": 20,
            "consecutiveErrorLimit": 20,
            "metrics": metrics,
            **(analysis or {}),
        }
    if rollback is not None:
        spec["rollback"] = rollback
    return {
        "apiVersion": "modelrollout.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def apply(testbed: Any, namespace: str, manifest: dict[str, Any]) -> None:
    testbed.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def status(testbed: Any, namespace: str, name: str) -> dict[str, Any]:
    out: dict[str, Any] = testbed.get("md", name, "-n", namespace).get("status") or {}
    return out


def wait_phase(
    testbed: Any, namespace: str, name: str, phases: set[str], *, timeout: float = 180
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        st = status(testbed, namespace, name)
        phase = st.get("phase", "")
        if not seen or seen[-1] != phase:
            seen.append(phase)
        if phase in phases:
            return st
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{name} did not reach {sorted(phases)} within {timeout:.0f}s; phases seen: {seen}; "
                f"status: {json.dumps(st)[:3000]}"
            )
        time.sleep(1)


def events(testbed: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = testbed.get(
        "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return items


def shadow_example(
    example: Path, testbed: Any, *, version: str, artifact: str
) -> list[dict[str, Any]]:
    """The documents of a shadow example, its ModelDeployment pointed at this bed: version
    `version` of `artifact` from the claim, this bed's Prometheus, a 40 s shadow step that mirrors
    everything, 5 s intervals. The shadow step is the judge: the offline accuracy threshold goes,
    so a worse version passes the gate's data checks and reaches the step."""
    text = example.read_text().replace(EXAMPLES_PREFIX, uri(""))
    docs = [d for d in yaml.safe_load_all(text) if d]
    for spec in (d["spec"] for d in docs if d.get("kind") == "ModelDeployment"):
        spec["model"].update(version=version, uri=uri(f"models/{artifact}"))
        spec["validation"].pop("thresholds", None)
        spec["rollout"]["steps"] = [{"shadow": {"duration": "40s", "mirror": 100}}]
        spec["rollout"]["progressDeadline"] = "3m"
        spec["analysis"].update(prometheus={"address": testbed.prometheus_url}, interval="5s")
    return docs
