"""A real Kubernetes node for the test bed: containerd, kubelet, kube-proxy and CoreDNS as processes it owns.

Started by `python -m testbed up` (testbed/__main__.py) unless it is the scale bed (`--kwok-pods`); the
configuration comes from testbed/node_config.py. Root only: it mounts, makes a bridge, writes iptables.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from testbed import cluster, node_config, node_image, paths, procs

# Started in this order, stopped in the reverse one.
COMPONENTS = ("apiserver-forward", "containerd", "kubelet", "kube-proxy", "coredns")
# Debian's packages the node needs (testbed/install-system-deps.sh node installs them).
HOST_TOOLS = {
    "containerd": "containerd",
    "runc": "runc",
    "ctr": "containerd",
    "iptables": "iptables",
    "conntrack": "conntrack",
    "socat": "socat",
}
BUSYBOX = Path("/bin/busybox")
# The sysctls a node needs: routing between the bridge and Service addresses (DNAT), and bridged
# traffic passing iptables, so that a pod reaching a Service backed by a pod on the same bridge
# gets its reply un-NATed.
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}


def layout(cluster_name: str) -> node_config.Layout:
    """The node's files and addresses; the ports are chosen once and kept in the node's state."""
    state = paths.state_dir(cluster_name) / "node"
    ports_file = state / "ports.json"
    try:
        ports: dict[str, int] = json.loads(ports_file.read_text())
    except FileNotFoundError:
        names = ("kubelet_healthz", "proxy_healthz", "proxy_metrics", "dns_health")
        ports = {n: procs.free_port() for n in names}
        state.mkdir(parents=True, exist_ok=True)
        ports_file.write_text(json.dumps(ports))
    return node_config.Layout(
        cluster=cluster_name,
        state=state,
        kubeconfig=paths.kubeconfig(cluster_name),
        subnet=node_config.pod_subnet(cluster_name),
        bridge=node_config.bridge_name(cluster_name),
        kubelet_healthz_port=ports["kubelet_healthz"],
        proxy_healthz_port=ports["proxy_healthz"],
        proxy_metrics_port=ports["proxy_metrics"],
        dns_health_port=ports["dns_health"],
    )


def check_host() -> None:
    """Fails with what to install when a host tool or permission the node needs is missing."""
    if os.geteuid() != 0:
        raise PermissionError("the real node needs root (mounts, a bridge, iptables, cgroups)")
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if not BUSYBOX.exists():
        missing.append("busybox-static")
    if not (node_config.CNI_BIN_DIR / "bridge").exists():
        missing.append("containernetworking-plugins")
    if missing:
        raise FileNotFoundError(
            f"the real node needs Debian's {', '.join(missing)}: "
            "run `bash testbed/install-system-deps.sh node`"
        )


def start(*, cluster_name: str, say: Callable[[str], None] = print) -> node_config.Layout:
    """Starts whatever of the node is not running yet, and waits until the node is Ready."""
    check_host()
    lay = layout(cluster_name)
    _write_configs(lay)
    _prepare_host(lay)
    t0 = time.monotonic()
    if procs.pid_of(name="apiserver-forward", state=lay.state) is None:
        _start_apiserver_forward(lay)
    if procs.pid_of(name="containerd", state=lay.state) is None:
        say("starting containerd")
        procs.start(
            name="containerd",
            state=lay.state,
            argv=["containerd", "--config", str(lay.state / "containerd.toml")],
        )
        _wait_path(
            lay.containerd_socket, timeout=30, what="containerd", log=_log(lay, "containerd")
        )
    import_image(lay, _pause_image(lay))
    if procs.pid_of(name="kubelet", state=lay.state) is None:
        say(f"starting kubelet ({node_config.NODE_NAME} at {lay.node_ip})")
        procs.start(
            name="kubelet",
            state=lay.state,
            argv=node_config.kubelet_argv(lay, binary=paths.binary("kubelet")),
        )
    if procs.pid_of(name="kube-proxy", state=lay.state) is None:
        say("starting kube-proxy (iptables)")
        procs.start(
            name="kube-proxy",
            state=lay.state,
            argv=[str(paths.binary("kube-proxy")), f"--config={lay.state / 'kube-proxy.yaml'}"],
        )
    _wait_node_ready(lay, timeout=90)
    if procs.pid_of(name="coredns", state=lay.state) is None:
        say(f"starting CoreDNS on {lay.node_ip}:53")
        procs.start(
            name="coredns",
            state=lay.state,
            argv=[str(paths.binary("coredns")), "-conf", str(lay.state / "Corefile")],
        )
    for what, port in (("kube-proxy", lay.proxy_healthz_port), ("coredns", lay.dns_health_port)):
        procs.wait_for_port(host="127.0.0.1", port=port, timeout=30, what=what, log=_log(lay, what))
    say(f"node {node_config.NODE_NAME} is Ready ({time.monotonic() - t0:.1f}s)")
    return lay


def running(cluster_name: str) -> dict[str, int | None]:
    state = paths.state_dir(cluster_name) / "node"
    return {c: procs.pid_of(name=c, state=state) for c in COMPONENTS}


def stop(*, cluster_name: str, say: Callable[[str], None] = print) -> None:
    """Stops the node's processes and removes its pods, mounts, bridge, cgroups and iptables rules."""
    state = paths.state_dir(cluster_name) / "node"
    if not state.exists():
        return
    lay = layout(cluster_name)
    for name in ("coredns", "kube-proxy", "kubelet", "apiserver-forward"):
        if procs.stop(name=name, state=lay.state, grace=15):
            say(f"stopped {name}")
    if procs.pid_of(name="containerd", state=lay.state) is not None:
        _remove_pods(lay)
        procs.stop(name="containerd", state=lay.state, grace=15)
        say("stopped containerd")
    _kill_leftover_shims(lay)
    if (paths.BIN / "kube-proxy").exists() and (lay.state / "kube-proxy.yaml").exists():
        # Removes the KUBE-* chains kube-proxy wrote into the host's tables.
        subprocess.run(
            [
                str(paths.BIN / "kube-proxy"),
                "--cleanup",
                f"--config={lay.state / 'kube-proxy.yaml'}",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
    _remove_kubelet_chains()
    _unmount_under(lay.state)
    subprocess.run(["ip", "link", "delete", lay.bridge], capture_output=True, check=False)
    _remove_cgroups()
    if cluster.running(cluster_name):
        cluster.kubectl(
            "delete", "node", node_config.NODE_NAME, "--ignore-not-found", cluster=cluster_name
        )


def import_image(lay: node_config.Layout, archive: Path) -> None:
    """Loads an OCI archive into the containerd namespace the kubelet uses (CRI's k8s.io)."""
    _ctr(lay, "images", "import", str(archive))


def _ctr(lay: node_config.Layout, *args: str) -> str:
    argv = ["ctr", "--address", str(lay.containerd_socket), "--namespace", "k8s.io", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def _pause_image(lay: node_config.Layout) -> Path:
    # The sandbox only has to hold the pod's namespaces open: a static busybox `sleep` does that
    # (containerd stops a sandbox with SIGKILL, so a PID 1 without signal handlers is fine).
    image = node_image.Image(
        name=node_config.PAUSE_IMAGE,
        files={"/bin/busybox": BUSYBOX},
        symlinks={"/bin/sleep": "busybox"},
        entrypoint=("/bin/sleep", "infinity"),
    )
    return node_image.write_archive(image, lay.state / "images" / "pause.tar")


def _write_configs(lay: node_config.Layout) -> None:
    lay.state.mkdir(parents=True, exist_ok=True)
    for d in (lay.cni_conf_dir, lay.kubelet_root, lay.pod_logs, lay.containerd_socket.parent):
        d.mkdir(parents=True, exist_ok=True)
    files = {
        lay.state / "containerd.toml": node_config.containerd_toml(lay),
        lay.cni_conf_dir / "10-testbed.conflist": node_config.cni_conflist(lay),
        lay.state / "kubelet.yaml": node_config.kubelet_config(lay),
        lay.state / "kube-proxy.yaml": node_config.kube_proxy_config(lay),
        lay.state / "Corefile": node_config.corefile(lay),
    }
    for path, text in files.items():
        path.write_text(text)


def _prepare_host(lay: node_config.Layout) -> None:
    for key, value in SYSCTLS.items():
        path = Path("/proc/sys") / key
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing: the kernel needs br_netfilter for the node"
            )
        if path.read_text().strip() != value:
            path.write_text(value)
    # The bridge exists before the kubelet starts, so the node address it registers with (and
    # CoreDNS binds) is there before the first pod makes the CNI plugin look for it.
    shown_link = subprocess.run(
        ["ip", "link", "show", lay.bridge], capture_output=True, check=False
    )
    if shown_link.returncode != 0:
        subprocess.run(["ip", "link", "add", lay.bridge, "type", "bridge"], check=True)
    gateway = f"{lay.node_ip}/{lay.subnet.prefixlen}"
    shown = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "dev", lay.bridge],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if gateway not in shown:
        subprocess.run(["ip", "addr", "add", gateway, "dev", lay.bridge], check=True)
    subprocess.run(["ip", "link", "set", lay.bridge, "up"], check=True)


def _start_apiserver_forward(lay: node_config.Layout) -> None:
    # The API server listens on 127.0.0.1 only (the test bed's rule), which no pod can reach. It
    # advertises the node's bridge address instead (cluster.create), so the `kubernetes`
    # Service leads there, and this forwards that address and port to the API server.
    port = urllib.parse.urlsplit(cluster.admin_credentials(lay.cluster)["server"]).port
    procs.start(
        name="apiserver-forward",
        state=lay.state,
        argv=[
            "socat",
            f"TCP-LISTEN:{port},bind={lay.node_ip},fork,reuseaddr",
            f"TCP:127.0.0.1:{port}",
        ],
    )


def _wait_path(path: Path, *, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not create {path} within {timeout:.0f}s{_tail(log)}")
        time.sleep(0.1)


def _wait_node_ready(lay: node_config.Layout, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'
    while time.monotonic() < deadline:
        ready = cluster.kubectl(
            "get",
            "node",
            node_config.NODE_NAME,
            "--ignore-not-found",
            "-o",
            f"jsonpath={jsonpath}",
            cluster=lay.cluster,
            check=False,
        )
        if ready.strip() == "True":
            return
        if procs.pid_of(name="kubelet", state=lay.state) is None:
            raise RuntimeError(f"the kubelet exited{_tail(_log(lay, 'kubelet'))}")
        time.sleep(0.5)
    raise TimeoutError(
        f"node {node_config.NODE_NAME} was not Ready within {timeout:.0f}s{_tail(_log(lay, 'kubelet'))}"
    )


def _remove_pods(lay: node_config.Layout) -> None:
    # Through the CRI, so each sandbox's network is torn down by CNI and its namespace unmounted.
    crictl = paths.BIN / "crictl"
    if not crictl.exists():
        return
    subprocess.run(
        [str(crictl), "--runtime-endpoint", f"unix://{lay.containerd_socket}", "rmp", "-a", "-f"],
        capture_output=True,
        timeout=120,
        check=False,
    )


def _kill_leftover_shims(lay: node_config.Layout) -> None:
    # A shim outlives containerd on purpose; ours are those whose command line names our socket.
    needle = str(lay.containerd_socket).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes()
            if b"containerd-shim" in cmdline and needle in cmdline:
                os.kill(int(proc.name), 9)


# The chains the kubelet itself writes (kube-proxy --cleanup leaves them): a canary in each table,
# and a filter rule dropping traffic to 127.0.0.0/8 from other sources.
_KUBELET_CHAINS = {
    "filter": ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY"),
    "nat": ("KUBE-KUBELET-CANARY",),
    "mangle": ("KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"),
}


def _remove_kubelet_chains() -> None:
    for tool in ("iptables", "ip6tables"):

        def run(*args: str, tool: str = tool) -> None:
            subprocess.run([tool, "-w", *args], capture_output=True, check=False)

        for table, chains in _KUBELET_CHAINS.items():
            for chain in chains:
                for hook in ("INPUT", "OUTPUT"):
                    run("-t", table, "-D", hook, "-j", chain)
                run("-t", table, "-F", chain)
                run("-t", table, "-X", chain)


def _unmount_under(root: Path) -> None:
    prefix = str(root.resolve()) + "/"
    mounts = []
    with contextlib.suppress(FileNotFoundError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _remove_cgroups() -> None:
    # The kubelet's pod cgroups (cgroupfs driver, default cgroupRoot) in every v1 controller.
    for controller in Path("/sys/fs/cgroup").iterdir():
        top = controller / "kubepods"
        if not top.is_dir():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _log(lay: node_config.Layout, name: str) -> Path:
    return lay.state / f"{name}.log"


def _tail(log: Path, lines: int = 25) -> str:
    if not log.exists():
        return ""
    text = "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return f"\n--- last lines of {log} ---\n{text}"
