"""A pod's volumes as host directories, and each container's bind mounts onto them.

Called by the pod worker before a container starts (and again to refresh projected tokens).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from testbed.podrunner import envvars

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class VolumeError(RuntimeError):
    """A volume cannot be set up; the kubelet keeps the pod ContainerCreating and retries."""


class Sources(envvars.Sources, Protocol):
    def token(
        self,
        namespace: str,
        service_account: str,
        *,
        pod: str,
        pod_uid: str,
        audience: str | None,
        seconds: int,
    ) -> str: ...

    def cluster_ca(self) -> str: ...


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Prepared:
    dirs: dict[str, Path]
    refresh_at: float | None  # monotonic time at which projected tokens are due to be renewed


def prepare(
    pod: Mapping[str, Any],
    *,
    pod_dir: Path,
    state_dir: Path,
    sources: Sources,
    pod_ip: str,
    host_ip: str,
) -> Prepared:
    """Writes every volume's content under pod_dir (or finds its host path); safe to call again."""
    dirs: dict[str, Path] = {}
    refresh: list[float] = []
    namespace = pod["metadata"]["namespace"]
    for vol in pod.get("spec", {}).get("volumes") or []:
        name = vol["name"]
        where = pod_dir / "volumes" / name
        if "emptyDir" in vol:
            where.mkdir(parents=True, exist_ok=True)
        elif "hostPath" in vol:
            where = _host_path(vol["hostPath"], volume=name)
        elif "persistentVolumeClaim" in vol:
            where = state_dir / "pvc" / namespace / vol["persistentVolumeClaim"]["claimName"]
            where.mkdir(parents=True, exist_ok=True)
        elif "configMap" in vol or "secret" in vol or "downwardAPI" in vol:
            _write(
                where,
                _files(
                    vol, pod=pod, sources=sources, pod_ip=pod_ip, host_ip=host_ip, refresh=refresh
                ),
            )
        elif "projected" in vol:
            files: dict[str, str] = {}
            for source in vol["projected"].get("sources") or []:
                files |= _files(
                    source,
                    pod=pod,
                    sources=sources,
                    pod_ip=pod_ip,
                    host_ip=host_ip,
                    refresh=refresh,
                )
            _write(where, files)
        else:
            kinds = sorted(k for k in vol if k != "name")
            raise VolumeError(
                f"volume {name!r} is of type {kinds}, which the test bed's pod runner does not provide; "
                "use emptyDir, configMap, secret, downwardAPI, hostPath, persistentVolumeClaim or projected"
            )
        dirs[name] = where
    return Prepared(dirs=dirs, refresh_at=min(refresh) if refresh else None)


def mounts_for(
    container: Mapping[str, Any], prepared: Prepared, *, env: Mapping[str, str]
) -> list[Mount]:
    out = []
    for vm in container.get("volumeMounts") or []:
        if vm["name"] not in prepared.dirs:
            raise VolumeError(
                f"container {container['name']!r} mounts volume {vm['name']!r}, which the pod does not define"
            )
        source = prepared.dirs[vm["name"]]
        sub = vm.get("subPath") or envvars.expand(vm.get("subPathExpr", ""), env)
        if sub:
            source = source / sub
            if not source.exists():
                source.mkdir(parents=True)
        out.append(
            Mount(source=str(source), target=vm["mountPath"], read_only=bool(vm.get("readOnly")))
        )
    # Parents before children, so a mount inside another mount lands on top of it.
    return sorted(out, key=lambda m: m.target.rstrip("/").count("/"))


def _host_path(spec: Mapping[str, Any], *, volume: str) -> Path:
    path = Path(spec["path"])
    kind = spec.get("type") or ""
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    elif kind == "FileOrCreate" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    elif (kind == "Directory" and not path.is_dir()) or (kind == "File" and not path.is_file()):
        raise VolumeError(f"hostPath volume {volume!r}: {path} is not an existing {kind.lower()}")
    return path


def _files(
    source: Mapping[str, Any],
    *,
    pod: Mapping[str, Any],
    sources: Sources,
    pod_ip: str,
    host_ip: str,
    refresh: list[float],
) -> dict[str, str]:
    meta = pod["metadata"]
    if "configMap" in source or "secret" in source:
        kind = "configMap" if "configMap" in source else "secret"
        ref = source[kind]
        name = ref.get("name") or ref.get("secretName", "")
        found = (sources.config_map if kind == "configMap" else sources.secret)(
            meta["namespace"], name
        )
        if found is None and kind == "configMap" and name == "kube-root-ca.crt":
            found = {"ca.crt": sources.cluster_ca()}
        if found is None:
            if ref.get("optional"):
                return {}
            raise VolumeError(f'{kind} "{name}" not found in namespace {meta["namespace"]}')
        items = ref.get("items")
        if not items:
            return dict(found)
        missing = [i["key"] for i in items if i["key"] not in found and not ref.get("optional")]
        if missing:
            raise VolumeError(f"{kind} {meta['namespace']}/{name} has no key(s) {missing}")
        return {i["path"]: found[i["key"]] for i in items if i["key"] in found}
    if "downwardAPI" in source:
        files = {}
        for item in source["downwardAPI"].get("items") or []:
            if "fieldRef" in item:
                files[item["path"]] = envvars.field_value(
                    pod, item["fieldRef"]["fieldPath"], pod_ip=pod_ip, host_ip=host_ip
                )
            elif "resourceFieldRef" in item:
                files[item["path"]] = envvars.resource_value(
                    pod, item["resourceFieldRef"], container=""
                )
        return files
    if "serviceAccountToken" in source:
        sat = source["serviceAccountToken"]
        seconds = int(sat.get("expirationSeconds") or 3607)
        token = sources.token(
            meta["namespace"],
            pod["spec"].get("serviceAccountName") or "default",
            pod=meta["name"],
            pod_uid=meta["uid"],
            audience=sat.get("audience"),
            seconds=seconds,
        )
        # Renewed at 80% of its life, as the kubelet does.
        refresh.append(time.monotonic() + 0.8 * seconds)
        return {sat["path"]: token}
    return {}


def _write(where: Path, files: Mapping[str, str]) -> None:
    """Each file replaced atomically, so a reader never sees half a token."""
    where.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = (where / rel).resolve()
        if not path.is_relative_to(where.resolve()):
            raise VolumeError(
                f"volume item path {rel!r} leaves its volume; use a relative path without '..'"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
