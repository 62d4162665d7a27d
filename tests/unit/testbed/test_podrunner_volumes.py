"""Volumes become host directories with the right files; mounts map them into the container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from testbed.podrunner import volumes

pytestmark = pytest.mark.unit


class Sources:
    def __init__(self) -> None:
        self.tokens: list[tuple[str, str, str | None, int]] = []

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        return {"a.txt": "A", "b.txt": "B"} if (namespace, name) == ("ml", "cfg") else None

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return {"password": "pw"} if (namespace, name) == ("ml", "creds") else None

    def token(
        self,
        namespace: str,
        service_account: str,
        *,
        pod: str,
        pod_uid: str,
        audience: str | None,
        seconds: int,
    ) -> str:
        self.tokens.append((service_account, pod_uid, audience, seconds))
        return f"token-for-{service_account}"

    def cluster_ca(self) -> str:
        return "-----BEGIN CERTIFICATE-----\nCA\n"


def pod(*vols: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ml", "uid": "uid-1", "labels": {"a": "1"}},
        "spec": {
            "serviceAccountName": "runner",
            "volumes": list(vols),
            "containers": [{"name": "c"}],
        },
    }


def prepare(tmp_path: Path, p: dict[str, Any], sources: Sources | None = None) -> volumes.Prepared:
    return volumes.prepare(
        p,
        pod_dir=tmp_path / "pod",
        state_dir=tmp_path / "state",
        sources=sources or Sources(),
        pod_ip="127.1.0.3",
        host_ip="127.0.0.1",
    )


def test_config_maps_secrets_and_downward_api_are_written_as_files(tmp_path: Path) -> None:
    got = prepare(
        tmp_path,
        pod(
            {
                "name": "cfg",
                "configMap": {"name": "cfg", "items": [{"key": "b.txt", "path": "sub/b"}]},
            },
            {"name": "sec", "secret": {"secretName": "creds"}},
            {
                "name": "info",
                "downwardAPI": {
                    "items": [
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {"path": "ip", "fieldRef": {"fieldPath": "status.podIP"}},
                    ]
                },
            },
            {"name": "scratch", "emptyDir": {}},
        ),
    )
    assert (got.dirs["cfg"] / "sub" / "b").read_text() == "B"
    assert not (got.dirs["cfg"] / "a.txt").exists()
    assert (got.dirs["sec"] / "password").read_text() == "pw"
    assert (got.dirs["info"] / "labels").read_text() == 'a="1"'
    assert (got.dirs["info"] / "ip").read_text() == "127.1.0.3"
    assert got.dirs["scratch"].is_dir()
    assert got.refresh_at is None


def test_a_claim_is_a_directory_per_namespace_and_claim_shared_by_pods(tmp_path: Path) -> None:
    got = prepare(
        tmp_path, pod({"name": "models", "persistentVolumeClaim": {"claimName": "store"}})
    )
    assert got.dirs["models"] == tmp_path / "state" / "pvc" / "ml" / "store"
    assert got.dirs["models"].is_dir()


def test_the_service_account_volume_holds_a_bound_token_the_ca_and_the_namespace(
    tmp_path: Path,
) -> None:
    sources = Sources()
    got = prepare(
        tmp_path,
        pod(
            {
                "name": "kube-api-access-x",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {"fieldPath": "metadata.namespace"},
                                    }
                                ]
                            }
                        },
                    ]
                },
            }
        ),
        sources,
    )
    d = got.dirs["kube-api-access-x"]
    assert (d / "token").read_text() == "token-for-runner"
    assert (d / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (d / "namespace").read_text() == "ml"
    assert sources.tokens == [("runner", "uid-1", None, 3607)]
    assert got.refresh_at is not None


def test_a_missing_config_map_is_an_error_unless_optional(tmp_path: Path) -> None:
    with pytest.raises(volumes.VolumeError, match='configMap "nope" not found in namespace ml'):
        prepare(tmp_path, pod({"name": "v", "configMap": {"name": "nope"}}))
    prepare(tmp_path, pod({"name": "v", "configMap": {"name": "nope", "optional": True}}))


def test_an_unsupported_volume_type_names_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(volumes.VolumeError, match=r"\['nfs'\].*use emptyDir"):
        prepare(tmp_path, pod({"name": "v", "nfs": {"server": "x", "path": "/"}}))


def test_an_item_path_cannot_escape_its_volume(tmp_path: Path) -> None:
    with pytest.raises(volumes.VolumeError, match="leaves its volume"):
        prepare(
            tmp_path,
            pod(
                {
                    "name": "v",
                    "configMap": {"name": "cfg", "items": [{"key": "a.txt", "path": "../x"}]},
                }
            ),
        )


def test_mounts_follow_volume_mounts_with_sub_paths_parents_first(tmp_path: Path) -> None:
    got = prepare(
        tmp_path,
        pod({"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cfg"}}),
    )
    container = {
        "name": "c",
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/data/conf", "readOnly": True},
            {"name": "data", "mountPath": "/data", "subPathExpr": "$(POD)"},
        ],
    }
    mounts = volumes.mounts_for(container, got, env={"POD": "p"})
    assert [m.target for m in mounts] == ["/data", "/data/conf"]
    assert mounts[0].source == str(got.dirs["data"] / "p")
    assert mounts[1].read_only


def test_mounting_an_undefined_volume_is_an_error(tmp_path: Path) -> None:
    got = prepare(tmp_path, pod())
    with pytest.raises(volumes.VolumeError, match="'ghost'"):
        volumes.mounts_for(
            {"name": "c", "volumeMounts": [{"name": "ghost", "mountPath": "/x"}]}, got, env={}
        )
