"""The control plane: a kwokctl cluster run from locally built binaries, bound to 127.0.0.1.

Its pods run on the real node (testbed/node.py), which the API server is configured for here; the
scale bed instead has kwok's fake nodes and pod stages (testbed/pod-stages.yaml) and an audit log.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from testbed import paths

# The scale bed: 8 nodes of 500 pods hold 1,000 ModelDeployments' stable, canary and Job pods.
KWOK_POD_NODE_COUNT = 8
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node=fake"
# The `kubernetes` Service's ClusterIP: the first address of kube-apiserver's default
# --service-cluster-ip-range (10.0.0.0/24), which kwokctl leaves as it is.
KUBERNETES_SERVICE_IP = "10.0.0.1"
# The scale bed's Services (one per ModelDeployment) outgrow a /24 at 254: "failed to allocate a
# serviceIP ... range is full". A /16 around the same first address holds 65,534.
KWOK_POD_SERVICE_RANGE = "10.0.0.0/16"
# The name the API server's aggregator checks metrics-server's certificate against.
METRICS_SERVER_DNS = "metrics-server.kube-system.svc"
# The real node's HPA controller, quick enough for a test of minutes: a new decision every 5 s
# (default 15 s), scale-down after 30 s of lower recommendations (default 5 min), and a new pod's
# CPU counted 20 s after it started (defaults 5 min and 30 s) since its readiness probe passes fast.
HPA_CONTROLLER_ARGS = {
    "horizontal-pod-autoscaler-sync-period": "5s",
    "horizontal-pod-autoscaler-downscale-stabilization": "30s",
    "horizontal-pod-autoscaler-cpu-initialization-period": "20s",
    "horizontal-pod-autoscaler-initial-readiness-delay": "10s",
}


# Metadata only (who asked for what, no bodies): bench/scale.py counts each controller's requests
# by user agent. Only the scale bed writes it.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}


def audit_log(cluster: str) -> Path:
    return paths.kwok_dir(cluster) / "logs" / "audit.log"


def _config(cluster: str, *, node_ip: str | None) -> Path:
    cfg = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": {
            "runtime": "binary",
            "bindAddress": "127.0.0.1",
            "kubeVersion": _stamp("k8s"),
            "kubeApiserverBinary": str(paths.binary("kube-apiserver")),
            "kubeControllerManagerBinary": str(paths.binary("kube-controller-manager")),
            "kubeSchedulerBinary": str(paths.binary("kube-scheduler")),
            "kubectlBinary": str(paths.binary("kubectl")),
            "etcdBinary": str(paths.binary("etcd")),
            "kwokControllerBinary": str(paths.binary("kwok")),
            "quietPull": True,
        },
    }
    if node_ip is not None:
        # Pods reach the API server through the `kubernetes` Service, whose endpoint is the
        # advertised address (testbed/node.py forwards it to 127.0.0.1), and check its
        # certificate against the Service's IP.
        # metrics-server (testbed/metrics_server.py) serves with the same certificate, under the
        # name the aggregator dials it by.
        cfg["options"]["kubeApiserverCertSANs"] = [
            KUBERNETES_SERVICE_IP,
            node_ip,
            METRICS_SERVER_DNS,
        ]
        for patch in _real_node_patches(node_ip, pki=paths.kwok_dir(cluster) / "pki"):
            _add_args(cfg, patch["name"], patch["extraArgs"])
    # One controller-manager and one scheduler: nothing to elect. With election on, a lease renewal
    # that times out on a loaded machine makes either exit ("leaderelection lost"), kwokctl does not
    # restart it, and every Job and Deployment on the bed stops moving.
    for component in ("kube-controller-manager", "kube-scheduler"):
        _add_args(cfg, component, [{"key": "leader-elect", "value": "false"}])
    out = paths.state_dir(cluster) / "kwokctl.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    stages = (paths.REPO / "testbed" / "node-stages.yaml").read_text()
    if node_ip is None:  # the scale bed
        policy = out.parent / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
        cfg["options"]["kubeAuditPolicy"] = str(policy)
        _add_args(
            cfg,
            "kube-apiserver",
            [{"key": "service-cluster-ip-range", "value": KWOK_POD_SERVICE_RANGE}],
        )
        stages += "---\n" + (paths.REPO / "testbed" / "pod-stages.yaml").read_text()
    out.write_text(yaml.safe_dump(cfg, sort_keys=False) + "---\n" + stages)
    return out


def _add_args(cfg: dict[str, Any], component: str, args: list[dict[str, Any]]) -> None:
    """Adds extra arguments to a component's one entry in componentsPatches (made if missing)."""
    patches: list[dict[str, Any]] = cfg.setdefault("componentsPatches", [])
    for patch in patches:
        if patch["name"] == component:
            patch.setdefault("extraArgs", []).extend(args)
            return
    patches.append({"name": component, "extraArgs": list(args)})


def _real_node_patches(node_ip: str, *, pki: Path) -> list[dict[str, Any]]:
    def arg(key: str, value: str, *, override: bool = False) -> dict[str, Any]:
        return {"key": key, "value": value, "override": override}

    return [
        # kwokctl's binary runtime lets kwok manage every node, which would fake the real
        # kubelet's node status too: kwok keeps only the nodes that carry its annotation.
        {
            "name": "kwok-controller",
            "extraArgs": [
                arg("manage-all-nodes", "false", override=True),
                arg("manage-nodes-with-annotation-selector", FAKE_NODE_ANNOTATION),
            ],
        },
        # `kubectl logs` and `exec` go through the API server to the kubelet; by default it dials
        # the node's Hostname address first, a name no resolver here knows.
        {
            "name": "kube-apiserver",
            "extraArgs": [
                arg("kubelet-preferred-address-types", "InternalIP,Hostname"),
                arg("advertise-address", node_ip),
                # The aggregation layer for metrics.k8s.io: kwokctl gives the API server a proxy
                # client certificate (its admin one) but no request-header CA, without which an
                # aggregated server cannot trust the user the API server names in its headers.
                arg("requestheader-client-ca-file", str(pki / "ca.crt")),
                arg("requestheader-allowed-names", "kwok-admin"),
                arg("requestheader-username-headers", "X-Remote-User"),
                arg("requestheader-group-headers", "X-Remote-Group"),
                arg("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
                # Dial metrics-server at its endpoint (the node's address), not its ClusterIP.
                arg("enable-aggregator-routing", "true"),
            ],
        },
        {
            "name": "kube-controller-manager",
            "extraArgs": [arg(k, v) for k, v in HPA_CONTROLLER_ARGS.items()],
        },
    ]


def _stamp(component: str) -> str:
    return (paths.BIN / f".{component}.version").read_text().strip()


def kwokctl(*args: str, cluster: str, check: bool = True, timeout: float = 300) -> str:
    argv = [str(paths.binary("kwokctl")), "--name", cluster, *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(argv)}` failed ({done.returncode}):\n{done.stderr}{done.stdout}"
        )
    return done.stdout


def kubectl(*args: str, cluster: str, check: bool = True, input: str | None = None) -> str:
    argv = [str(paths.binary("kubectl")), "--kubeconfig", str(paths.kubeconfig(cluster)), *args]
    done = subprocess.run(
        argv, capture_output=True, text=True, input=input, timeout=120, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"`kubectl {' '.join(args)}` failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def apply(objects: list[dict[str, Any]], *, cluster: str) -> None:
    """`kubectl apply` of `objects` as one List."""
    items = {"apiVersion": "v1", "kind": "List", "items": objects}
    kubectl("apply", "-f", "-", cluster=cluster, input=json.dumps(items))


def running(cluster: str) -> bool:
    if not paths.kubeconfig(cluster).exists():
        return False
    try:
        kubectl("get", "--raw", "/readyz", cluster=cluster)
    except (RuntimeError, subprocess.TimeoutExpired):
        return False
    return True


def create(cluster: str, *, say: Any = print, node_ip: str | None) -> None:
    """Starts the control plane for the real node at node_ip, or (None) the scale bed: kwok's
    fake nodes, whose pods kwok runs too (Ready without a process)."""
    if running(cluster):
        say(f"cluster {cluster} is already running")
        return
    # A half-created or stopped cluster: start from a clean slate rather than guess its state.
    delete(cluster)
    say(
        f"starting control plane {cluster} (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
    )
    kwokctl(
        "create",
        "cluster",
        "-c",
        str(_config(cluster, node_ip=node_ip)),
        "--kubeconfig",
        _scratch_kubeconfig(cluster),
        "--wait",
        "120s",
        cluster=cluster,
        timeout=240,
    )
    if node_ip is None:
        _add_nodes(cluster, count=KWOK_POD_NODE_COUNT)
        _wait_nodes_ready(cluster, timeout=60)
    _wait_default_service_account(cluster, timeout=60)


def _scratch_kubeconfig(cluster: str) -> str:
    # kwokctl writes the new context into this file; a scratch one keeps ~/.kube/config untouched.
    # (kwokctl 0.8 accepts "" on create but rejects it on delete with "empty path".)
    path = paths.state_dir(cluster) / "kwokctl-scratch-kubeconfig.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def delete(cluster: str) -> None:
    if paths.kwok_dir(cluster).exists():
        kwokctl(
            "delete",
            "cluster",
            "--kubeconfig",
            _scratch_kubeconfig(cluster),
            cluster=cluster,
            check=False,
        )


def _add_nodes(cluster: str, *, count: int) -> None:
    key, value = FAKE_NODE_ANNOTATION.split("=", 1)
    for i in range(count):
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"node-{i}",
                "labels": {
                    "kubernetes.io/hostname": f"node-{i}",
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
                "annotations": {key: value},
            },
            # kwok gives pods addresses from the node's range (else one /24 for all: 254 pods).
            "spec": {"podCIDR": f"10.{100 + i}.0.0/16"},
        }
        kubectl("apply", "-f", "-", cluster=cluster, input=json.dumps(node))


def _wait_nodes_ready(cluster: str, *, timeout: float) -> None:
    kubectl(
        "wait",
        "--for=condition=Ready",
        "node",
        "--all",
        f"--timeout={int(timeout)}s",
        cluster=cluster,
    )


def _wait_default_service_account(cluster: str, *, timeout: float) -> None:
    # Pods are refused until the ServiceAccount controller has made `default`; wait for it once here.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if kubectl(
            "get",
            "serviceaccount",
            "default",
            "-n",
            "default",
            "--ignore-not-found",
            "-o",
            "name",
            cluster=cluster,
        ):
            return
        time.sleep(0.5)
    raise TimeoutError(
        "the default ServiceAccount never appeared: is kube-controller-manager running?"
    )


def admin_credentials(cluster: str) -> dict[str, str]:
    """Server address and the admin certificate files from the kubeconfig kwokctl wrote."""
    cfg = yaml.safe_load(paths.kubeconfig(cluster).read_text())
    base = paths.kubeconfig(cluster).parent
    clus = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]

    def resolve(p: str) -> str:
        return str((base / p).resolve()) if not Path(p).is_absolute() else p

    return {
        "server": clus["server"],
        "ca": resolve(clus["certificate-authority"]),
        "cert": resolve(user["client-certificate"]),
        "key": resolve(user["client-key"]),
    }
