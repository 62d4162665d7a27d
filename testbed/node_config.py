"""The configuration files of the real node: containerd, CNI, kubelet, kube-proxy and CoreDNS.

Pure: a Layout in, file contents out. testbed/node.py writes them and starts the processes; the
reasons for each setting that this machine needs are next to it and in testbed/README.md.
"""

from __future__ import annotations

import ipaddress
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import yaml

NODE_NAME = "node-real"
CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = "registry.k8s.io/pause:testbed"
# Debian's containernetworking-plugins put bridge, host-local and loopback here.
CNI_BIN_DIR = Path("/usr/lib/cni")
KUBELET_PORT = 10250


@dataclass(frozen=True)
class Layout:
    """Where one test bed's node keeps its files, and the addresses it uses."""

    cluster: str
    state: Path  # the node's own directory inside the test bed's state
    kubeconfig: Path  # the admin kubeconfig every component registers with
    subnet: ipaddress.IPv4Network  # the pods' range, on the node's bridge
    bridge: str
    kubelet_healthz_port: int
    proxy_healthz_port: int
    proxy_metrics_port: int
    dns_health_port: int

    @property
    def node_ip(self) -> str:
        """The bridge's own address: the node's InternalIP, the kubelet's and CoreDNS' address."""
        return str(next(self.subnet.hosts()))

    @property
    def containerd_socket(self) -> Path:
        return self.state / "containerd" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state / "cni"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.state / "pod-logs"


def pod_subnet(cluster: str) -> ipaddress.IPv4Network:
    """A /24 per test bed in 10.244.0.0/16, so two beds' pod ranges do not overlap by accident."""
    return ipaddress.IPv4Network(f"10.244.{zlib.crc32(cluster.encode()) % 250}.0/24")


def bridge_name(cluster: str) -> str:
    # Interface names are at most 15 bytes.
    return f"mrtb{zlib.crc32(cluster.encode()) % 100000:05d}"


def containerd_toml(layout: Layout) -> str:
    root, state = layout.state / "containerd" / "root", layout.state / "containerd" / "state"
    cri = {
        "sandbox_image": PAUSE_IMAGE,
        "stream_server_address": "127.0.0.1",
        "stream_server_port": "0",
        "enable_selinux": False,
        "disable_apparmor": True,
        # This machine gives root no CAP_SYS_RESOURCE, so an oom_score_adj below containerd's own
        # cannot be set; unrestricted, runc fails every sandbox (the pause container asks for -998)
        # with "can't get final child's PID from pipe: EOF". Restricted, containerd clamps it.
        "restrict_oom_score_adj": True,
        # Keeps the pods' network namespaces in our state directory, not the host's /run/netns.
        "netns_mounts_under_state_dir": True,
        "containerd": {
            "snapshotter": "overlayfs",
            "default_runtime_name": "runc",
            "runtimes": {
                "runc": {
                    "runtime_type": "io.containerd.runc.v2",
                    # cgroupfs: there is no systemd on this machine to hand cgroups to.
                    "options": {"SystemdCgroup": False},
                }
            },
        },
        "cni": {"bin_dir": str(CNI_BIN_DIR), "conf_dir": str(layout.cni_conf_dir)},
    }
    lines = [
        "version = 2",
        f"root = {json.dumps(str(root))}",
        f"state = {json.dumps(str(state))}",
        "[grpc]",
        f"  address = {json.dumps(str(layout.containerd_socket))}",
        # No debug or metrics listener: nothing reads them, and a fixed port could collide.
        "[debug]",
        '  address = ""',
        "[metrics]",
        '  address = ""',
    ]
    lines += _toml_table('plugins."io.containerd.grpc.v1.cri"', cri)
    return "\n".join(lines) + "\n"


def _toml_table(name: str, table: dict[str, object]) -> list[str]:
    # Enough TOML for the nested tables above: scalars first, then sub-tables.
    out = [f"[{name}]"]
    subs: list[tuple[str, dict[str, object]]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            subs.append((key, value))
        else:
            out.append(f"  {key} = {json.dumps(value)}")
    for key, sub in subs:
        out += _toml_table(f"{name}.{key}", sub)
    return out


def cni_conflist(layout: Layout) -> str:
    """One bridge with the node's address as gateway; host-local hands out pod addresses."""
    conf = {
        "cniVersion": "1.0.0",
        "name": "testbed",
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                "isGateway": True,
                # Traffic stays on this machine: nothing to masquerade.
                "ipMasq": False,
                # A pod reaching itself through its Service's ClusterIP comes back on its own port.
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(layout.subnet), "gateway": layout.node_ip}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.state / "cni-ipam"),
                },
            }
        ],
    }
    return json.dumps(conf, indent=2)


def kubelet_config(layout: Layout) -> str:
    cfg = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # This machine mounts cgroup v1 controllers (a v2 hierarchy sits beside them at
        # /sys/fs/cgroup/unified, holding no controller). Kubelet 1.35+ refuses v1 unless told.
        "failCgroupV1": False,
        # containerd 1.6 has no RuntimeConfig RPC, so kubelet 1.36 falls back to this setting;
        # it must match containerd's (SystemdCgroup = false) and there is no systemd anyway.
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "imageServiceEndpoint": f"unix://{layout.containerd_socket}",
        "address": layout.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.kubelet_healthz_port,
        # The API server reaches the kubelet (logs, exec) without a kubelet client certificate
        # (kwokctl sets none); the kubelet listens on the test bed's bridge only.
        "authentication": {
            "anonymous": {"enabled": True},
            "webhook": {"enabled": False},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDNS": [layout.node_ip],
        "clusterDomain": CLUSTER_DOMAIN,
        "podLogsDir": str(layout.pod_logs),
        # A shared development disk: evict only when it is really full, never GC the local images
        # (no registry could bring them back).
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # Root here lacks CAP_SYS_RESOURCE, so the kubelet cannot lower its own oom_score_adj to
        # the default -999 (it would only log the failure): ask for what it can have.
        "oomScoreAdj": 0,
        "serializeImagePulls": False,
        "failSwapOn": False,
        "nodeStatusReportFrequency": "10s",
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def kubelet_argv(layout: Layout, *, binary: Path) -> list[str]:
    return [
        str(binary),
        f"--config={layout.state / 'kubelet.yaml'}",
        f"--kubeconfig={layout.kubeconfig}",
        f"--root-dir={layout.kubelet_root}",
        f"--cert-dir={layout.kubelet_root / 'pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={layout.node_ip}",
        "--node-labels=type=real",
        "--v=1",
    ]


def kube_proxy_config(layout: Layout) -> str:
    cfg = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(layout.kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": str(layout.subnet),
        "healthzBindAddress": f"127.0.0.1:{layout.proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{layout.proxy_metrics_port}",
        # NodePorts on the node's bridge address only: on 127.0.0.1 kube-proxy would turn on
        # route_localnet for the whole host.
        "nodePortAddresses": [f"{layout.node_ip}/32"],
        # Leave the host's conntrack sysctls as they are (0 = do not set).
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        # Services change under tests every few seconds: apply them at once.
        "iptables": {"minSyncPeriod": "0s", "syncPeriod": "30s"},
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def corefile(layout: Layout) -> str:
    """CoreDNS on the node's address: cluster names from the API server, the rest from the host."""
    return f"""\
{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {layout.node_ip}
    errors
    health 127.0.0.1:{layout.dns_health_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {layout.kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
.:53 {{
    bind {layout.node_ip}
    errors
    forward . /etc/resolv.conf
    cache 30
    loop
}}
"""
