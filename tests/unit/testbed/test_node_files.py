"""The real node's generated files: OCI archives containerd can import, and configs that parse as meant."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

from testbed import node_config, node_image

pytestmark = pytest.mark.unit


def _layout(tmp_path: Path) -> node_config.Layout:
    return node_config.Layout(
        cluster="unit",
        state=tmp_path / "node",
        kubeconfig=tmp_path / "kubeconfig.yaml",
        subnet=node_config.pod_subnet("unit"),
        bridge=node_config.bridge_name("unit"),
        kubelet_healthz_port=1001,
        proxy_healthz_port=1002,
        proxy_metrics_port=1003,
        dns_health_port=1004,
    )


def _image(tmp_path: Path) -> node_image.Image:
    tool = tmp_path / "tool"
    tool.write_bytes(b"#!/bin/sh\necho hi\n")
    return node_image.Image(
        name="docker.io/library/tool:unit",
        files={"/bin/tool": tool},
        symlinks={"/bin/alias": "tool"},
        dirs=("/tmp",),
        entrypoint=("/bin/tool",),
    )


def test_an_archive_is_an_oci_layout_whose_blobs_match_their_digests(tmp_path: Path) -> None:
    archive = node_image.write_archive(_image(tmp_path), tmp_path / "a.tar")
    with tarfile.open(archive) as tar:
        blobs = {
            m.name.rsplit("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.name.startswith("blobs/sha256/")
        }
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    for digest, data in blobs.items():
        assert hashlib.sha256(data).hexdigest() == digest
    (entry,) = index["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == "docker.io/library/tool:unit"
    manifest = json.loads(blobs[entry["digest"].split(":", 1)[1]])
    assert len(blobs[manifest["config"]["digest"].split(":", 1)[1]]) == manifest["config"]["size"]
    config = json.loads(blobs[manifest["config"]["digest"].split(":", 1)[1]])
    assert config["config"]["Entrypoint"] == ["/bin/tool"]


def test_the_same_inputs_make_the_same_image_so_a_reimport_changes_nothing(tmp_path: Path) -> None:
    image = _image(tmp_path)
    first = node_image.write_archive(image, tmp_path / "1.tar").read_bytes()
    second = node_image.write_archive(image, tmp_path / "2.tar").read_bytes()
    assert first == second


def test_containerd_reads_the_settings_this_machine_needs(tmp_path: Path) -> None:
    lay = _layout(tmp_path)
    conf = tomllib.loads(node_config.containerd_toml(lay))
    cri = conf["plugins"]["io.containerd.grpc.v1.cri"]
    assert conf["grpc"]["address"] == str(lay.containerd_socket)
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == node_config.PAUSE_IMAGE
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["cni"]["conf_dir"] == str(lay.cni_conf_dir)


def test_the_kubelet_runs_on_cgroup_v1_with_cgroupfs_and_listens_on_the_bridge(
    tmp_path: Path,
) -> None:
    lay = _layout(tmp_path)
    cfg = yaml.safe_load(node_config.kubelet_config(lay))
    assert cfg["failCgroupV1"] is False
    assert cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["address"] == lay.node_ip
    assert cfg["clusterDNS"] == [lay.node_ip]
    assert f"--node-ip={lay.node_ip}" in node_config.kubelet_argv(lay, binary=Path("kubelet"))


def test_the_node_address_is_the_gateway_of_the_pod_range_the_cni_hands_out(
    tmp_path: Path,
) -> None:
    lay = _layout(tmp_path)
    cni = json.loads(node_config.cni_conflist(lay))["plugins"][0]
    (rng,) = cni["ipam"]["ranges"]
    assert rng[0]["gateway"] == lay.node_ip
    assert ipaddress.ip_address(lay.node_ip) in ipaddress.ip_network(rng[0]["subnet"])
    assert cni["bridge"] == lay.bridge
    assert len(lay.bridge) <= 15  # the kernel's limit on interface names


def test_two_test_beds_get_different_pod_ranges_and_bridges() -> None:
    assert node_config.pod_subnet("a") != node_config.pod_subnet("b")
    assert node_config.bridge_name("a") != node_config.bridge_name("b")
