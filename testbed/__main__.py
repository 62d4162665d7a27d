"""`python -m testbed up|down|status|env|logs`: the one entry point of the local test bed."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

from testbed import cluster, gateway_api, metrics_server, node, paths, procs, prometheus


def _say(msg: str) -> None:
    print(f"[testbed {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _state_file(name: str) -> Path:
    return paths.state_dir(name) / "testbed.json"


def load_state(name: str) -> dict[str, str]:
    try:
        data: dict[str, str] = json.loads(_state_file(name).read_text())
    except FileNotFoundError:
        return {}
    return data


def env(name: str) -> dict[str, str]:
    state = load_state(name)
    return {
        "KUBECONFIG": str(paths.kubeconfig(name)),
        "PROMETHEUS_URL": state.get("prometheus_url", ""),
        "MODEL_ROLLOUT_TESTBED_STATE": str(paths.state_dir(name)),
        "PATH": f"{paths.BIN}:{paths.VENV_BIN}",
    }


def pod_network(name: str) -> str:
    """Each test bed's pods get their own loopback range, so two beds on one machine never collide."""
    if name == "model-rollout":  # the usual bed keeps the range its docs and logs show
        return "127.1.0.0/16"
    return f"127.{2 + zlib.crc32(name.encode()) % 250}.0.0/16"


def real_node_requested() -> bool:
    """MODEL_ROLLOUT_REAL_NODE=1 asks for the real node, as `up --real-node` does."""
    return os.environ.get("MODEL_ROLLOUT_REAL_NODE", "0") == "1"


def up(name: str, *, build: bool = True, real_node: bool = False, kwok_pods: bool = False) -> None:
    t0 = time.monotonic()
    if build:
        script = str(paths.REPO / "testbed" / "build-binaries.sh")
        subprocess.run(["bash", script, "all"], check=True)
        if real_node:
            subprocess.run(["bash", script, "node"], check=True)
    state = paths.state_dir(name)
    state.mkdir(parents=True, exist_ok=True)
    saved = load_state(name)
    if saved.get("real_node") not in (None, real_node) and cluster.running(name):
        kind = "a real node" if saved["real_node"] else "the pod runner"
        raise SystemExit(
            f"test bed {name} is running with {kind}: take it down first (`python -m testbed down`)"
        )
    if saved.get("kwok_pods", False) is not kwok_pods and cluster.running(name):
        kind = "kwok's pods" if saved.get("kwok_pods") else "the pod runner"
        raise SystemExit(
            f"test bed {name} is running with {kind}: take it down first (`python -m testbed down`)"
        )
    # A real node runs every pod itself: no kwok nodes to schedule onto, no pod runner beside it.
    node_ip = node.layout(name).node_ip if real_node else None
    cluster.create(name, say=_say, real_node_ip=node_ip, kwok_pods=kwok_pods)
    _say(f"installing the Gateway API {gateway_api.VERSION} standard CRDs")
    gateway_api.install(name)
    if real_node:
        node.start(cluster_name=name, say=_say)
        metrics_server.start(cluster_name=name, say=_say)
    elif kwok_pods:
        _say("kwok runs the pods (testbed/pod-stages.yaml): no pod runner")
    elif procs.pid_of(name="podrunner", state=state) is None:
        _say("starting the pod runner")
        procs.start(
            name="podrunner",
            state=state,
            argv=[
                sys.executable,
                "-m",
                "testbed.podrunner",
                "--kubeconfig",
                str(paths.kubeconfig(name)),
                "--state-dir",
                str(state / "podrunner"),
                "--project-image",
                "model-rollout",
                "--entrypoint",
                "model-rollout",
                "--pod-network",
                pod_network(name),
                "--path-prepend",
                str(paths.VENV_BIN),
                # The checkout and its venv play the image's filesystem: an emptyDir mounted at
                # /tmp must not hide them when they live under /tmp.
                "--keep-visible",
                str(paths.REPO),
                "--keep-visible",
                str(paths.VENV_BIN.parent),
            ],
            env={"PYTHONPATH": str(paths.REPO)},
        )
    if procs.pid_of(name="prometheus", state=state) is None:
        port = procs.free_port()
        where = f"127.0.0.1:{port}" + (f" and {node_ip}:{port}" if node_ip else "")
        _say(f"starting Prometheus on {where}")
        prometheus.start(cluster_name=name, state=state, port=port, node_ip=node_ip)
        saved["prometheus_url"] = f"http://127.0.0.1:{port}"
    if node_ip is not None:
        port = int(saved["prometheus_url"].rsplit(":", 1)[1])
        prometheus.publish(cluster_name=name, node_ip=node_ip, port=port)
        _say(f"Prometheus is {prometheus.IN_CLUSTER_URL} for pods")
    saved["cluster"] = name
    saved["real_node"] = real_node
    saved["kwok_pods"] = kwok_pods
    _state_file(name).write_text(json.dumps(saved, indent=2))
    _say(f"test bed {name} is up in {time.monotonic() - t0:.0f}s")
    print(f"export KUBECONFIG={paths.kubeconfig(name)}")
    print(f"export PROMETHEUS_URL={saved['prometheus_url']}")


def down(name: str) -> None:
    state = paths.state_dir(name)
    for proc in ("prometheus", "podrunner"):
        if procs.stop(name=proc, state=state, grace=15):
            _say(f"stopped {proc}")
    metrics_server.stop(cluster_name=name, say=_say)
    node.stop(cluster_name=name, say=_say)
    cluster.delete(name)
    _state_file(name).unlink(missing_ok=True)
    _say(f"test bed {name} is down")


def status(name: str) -> int:
    state = paths.state_dir(name)
    ok = cluster.running(name)
    print(f"control plane: {'running' if ok else 'stopped'} ({paths.kubeconfig(name)})")
    for proc in ("podrunner", "prometheus"):
        pid = procs.pid_of(name=proc, state=state)
        print(f"{proc}: {'running, pid ' + str(pid) if pid else 'stopped'}")
    if load_state(name).get("real_node"):
        pids = {**node.running(name), metrics_server.NAME: metrics_server.running(name)}
        for proc, pid in pids.items():
            print(f"{proc}: {'running, pid ' + str(pid) if pid else 'stopped'}")
    if ok:
        print(cluster.kubectl("get", "nodes", "-o", "wide", cluster=name), end="")
    return 0 if ok else 1


def logs(name: str, pod: str | None) -> int:
    root = paths.state_dir(name) / "podrunner" / "logs"
    files = sorted(root.glob("*.log")) if root.exists() else []
    if pod is None:
        for f in files:
            print(f)
        for proc in ("podrunner", "prometheus"):
            print(paths.state_dir(name) / f"{proc}.log")
        return 0
    picked = [f for f in files if pod in f.name]
    for f in picked:
        print(f"==> {f} <==")
        print(f.read_text(), end="")
    return 0 if picked else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__)
    parser.add_argument("--name", default=paths.DEFAULT_CLUSTER, help="cluster name")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build (cached) and start the test bed")
    p_up.add_argument("--no-build", action="store_true", help="use the cached binaries as they are")
    p_up.add_argument(
        "--real-node",
        action="store_true",
        default=real_node_requested(),
        help="run pods on a real node (containerd, kubelet, kube-proxy, CoreDNS) instead of the pod runner",
    )
    p_up.add_argument(
        "--kwok-pods",
        action="store_true",
        help="the scale bed: kwok's pod stages run every pod (no process), more nodes, an audit log",
    )
    sub.add_parser("down", help="stop every process of the test bed")
    sub.add_parser("status", help="what is running")
    sub.add_parser("env", help="print the environment to use the test bed")
    p_logs = sub.add_parser("logs", help="list log files, or print those of a pod")
    p_logs.add_argument("pod", nargs="?")
    args = parser.parse_args(argv)
    if args.cmd == "up":
        up(args.name, build=not args.no_build, real_node=args.real_node, kwok_pods=args.kwok_pods)
    elif args.cmd == "down":
        down(args.name)
    elif args.cmd == "status":
        return status(args.name)
    elif args.cmd == "env":
        for k, v in env(args.name).items():
            print(f"export {k}={v}" if k != "PATH" else f"export PATH={v}:$PATH")
    elif args.cmd == "logs":
        return logs(args.name, args.pod)
    return 0


if __name__ == "__main__":
    sys.exit(main())
