"""`python -m testbed up|down|status|env|logs`: the one entry point of the local test bed."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
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


# What runs the pods, as the state file records it: a bed is reused only for the same kind.
PODS = {"node": "the real node", "kwok": "kwok's pods (the scale bed)"}


def up(name: str, *, build: bool = True, kwok_pods: bool = False) -> None:
    """Starts what is missing: the control plane, then the real node (kubelet, containerd,
    kube-proxy, CoreDNS, metrics-server) or, with kwok_pods, kwok's fake nodes and pods."""
    t0 = time.monotonic()
    if build:
        script = str(paths.REPO / "testbed" / "build-binaries.sh")
        subprocess.run(["bash", script, "all"], check=True)
        if not kwok_pods:
            subprocess.run(["bash", script, "node"], check=True)
    state = paths.state_dir(name)
    state.mkdir(parents=True, exist_ok=True)
    saved = load_state(name)
    pods = "kwok" if kwok_pods else "node"
    if saved.get("pods") != pods and cluster.running(name):
        running = PODS.get(saved.get("pods", ""), "pods of another kind (an older checkout's)")
        raise SystemExit(
            f"test bed {name} is running with {running}, not {PODS[pods]}: take it down first "
            f"(`python -m testbed --name {name} down`)"
        )
    node_ip = None if kwok_pods else node.layout(name).node_ip
    cluster.create(name, say=_say, node_ip=node_ip)
    _say(f"installing the Gateway API {gateway_api.VERSION} standard CRDs")
    gateway_api.install(name)
    if kwok_pods:
        _say("kwok runs the pods (testbed/pod-stages.yaml) on its fake nodes")
    else:
        node.start(cluster_name=name, say=_say)
        metrics_server.start(cluster_name=name, say=_say)
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
    saved["pods"] = pods
    _state_file(name).write_text(json.dumps(saved, indent=2))
    _say(f"test bed {name} is up in {time.monotonic() - t0:.0f}s")
    print(f"export KUBECONFIG={paths.kubeconfig(name)}")
    print(f"export PROMETHEUS_URL={saved['prometheus_url']}")


def down(name: str) -> None:
    if procs.stop(name="prometheus", state=paths.state_dir(name), grace=15):
        _say("stopped prometheus")
    metrics_server.stop(cluster_name=name, say=_say)
    node.stop(cluster_name=name, say=_say)
    cluster.delete(name)
    _state_file(name).unlink(missing_ok=True)
    _say(f"test bed {name} is down")


def status(name: str) -> int:
    state = paths.state_dir(name)
    ok = cluster.running(name)
    print(f"control plane: {'running' if ok else 'stopped'} ({paths.kubeconfig(name)})")
    pids = {"prometheus": procs.pid_of(name="prometheus", state=state)}
    if load_state(name).get("pods") != "kwok":
        pids |= {**node.running(name), metrics_server.NAME: metrics_server.running(name)}
    for proc, pid in pids.items():
        print(f"{proc}: {'running, pid ' + str(pid) if pid else 'stopped'}")
    if ok:
        print(cluster.kubectl("get", "nodes", "-o", "wide", cluster=name), end="")
    return 0 if ok else 1


def logs(name: str, pod: str | None) -> int:
    """Lists the log files (the bed's processes', then each container's as the kubelet keeps
    them: <namespace>_<pod>_<uid>/<container>/<restart>.log), or prints those of pods named `pod`."""
    state = paths.state_dir(name)
    on_node = (state / "node").exists()
    files = sorted(node.layout(name).pod_logs.glob("*/*/*.log")) if on_node else []
    if pod is None:
        for f in [*sorted(state.glob("*.log")), *sorted((state / "node").glob("*.log")), *files]:
            print(f)
        return 0
    picked = [f for f in files if pod in f.parent.parent.name]
    for f in picked:
        print(f"==> {f} <==")
        print(f.read_text(errors="replace"), end="")
    return 0 if picked else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__)
    parser.add_argument("--name", default=paths.DEFAULT_CLUSTER, help="cluster name")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser(
        "up", help="build (cached) and start the test bed: a control plane and a real node"
    )
    p_up.add_argument("--no-build", action="store_true", help="use the cached binaries as they are")
    p_up.add_argument(
        "--kwok-pods",
        action="store_true",
        help="the scale bed instead: kwok's fake nodes and pods (no process, no real node), an audit log",
    )
    sub.add_parser("down", help="stop every process of the test bed")
    sub.add_parser("status", help="what is running")
    sub.add_parser("env", help="print the environment to use the test bed")
    p_logs = sub.add_parser("logs", help="list log files, or print the containers' of a pod")
    p_logs.add_argument("pod", nargs="?")
    args = parser.parse_args(argv)
    if args.cmd == "up":
        up(args.name, build=not args.no_build, kwok_pods=args.kwok_pods)
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
