"""Turns a container spec into what to run: argv, environment, working dir, mounts, files.

Called by the pod worker at each (re)start; the env and argv follow the kubelet's rules.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.podrunner import container, envvars, probe_exec, process, settings, volumes

DEFAULT_MESSAGE_PATH = "/dev/termination-log"
# Passed through from the runner because a container image would set them too.
_PASSED_THROUGH = ("HOME", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class Plan:
    launch: process.Launch
    message_file: Path
    env: Mapping[str, str]
    pod_ip: str
    ports: list[Mapping[str, Any]]

    def target(self, pid: int) -> probe_exec.Target:
        return probe_exec.Target(pod_ip=self.pod_ip, ports=self.ports, env=self.env, pid=pid)


def base_env(
    pod: Mapping[str, Any], *, cfg: settings.Settings, server: tuple[str, int]
) -> dict[str, str]:
    """What every container starts with, before its own envFrom and env: PATH, HOSTNAME and the
    API server's address under the names in-cluster clients look for. The runner's own environment
    (its KUBECONFIG above all) is not passed on, so a pod is held to its ServiceAccount's rights."""
    host, port = server
    env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    env["PATH"] = os.pathsep.join([*cfg.path_prepend, os.environ.get("PATH", os.defpath)])
    env["HOSTNAME"] = pod["spec"].get("hostname") or pod["metadata"]["name"]
    env |= {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
    }
    return env


def argv_for(
    spec: Mapping[str, Any], *, entrypoint: tuple[str, ...], env: Mapping[str, str]
) -> list[str]:
    """command (or the image's entrypoint when empty) + args, with $(VAR) expanded as the kubelet does."""
    command = [envvars.expand(a, env) for a in spec.get("command") or []] or list(entrypoint)
    args = [envvars.expand(a, env) for a in spec.get("args") or []]
    argv = command + args
    if not argv:
        raise ValueError(
            f"container {spec['name']!r} has no command and the runner was given no --entrypoint"
        )
    return argv


def plan(
    c: container.ContainerRun,
    *,
    pod: Mapping[str, Any],
    cfg: settings.Settings,
    prepared: volumes.Prepared,
    pod_ip: str,
    sources: volumes.Sources,
    server: tuple[str, int],
) -> Plan:
    meta = pod["metadata"]
    env = envvars.resolve(
        c.spec,
        pod,
        sources=sources,
        pod_ip=pod_ip,
        host_ip=cfg.host_ip,
        base=base_env(pod, cfg=cfg, server=server),
    )
    argv = argv_for(c.spec, entrypoint=cfg.entrypoint, env=env)
    pod_dir = cfg.pod_dir(meta["namespace"], meta["name"], meta["uid"])
    # A fresh termination-message file per start, as each container instance gets its own.
    message_file = pod_dir / "termination" / c.name
    message_file.parent.mkdir(parents=True, exist_ok=True)
    message_file.write_bytes(b"")
    mounts = volumes.mounts_for(c.spec, prepared, env=env)
    mounts.append(
        volumes.Mount(
            source=str(message_file),
            target=c.spec.get("terminationMessagePath") or DEFAULT_MESSAGE_PATH,
        )
    )
    attempt = c.starts + 1
    launch = process.Launch(
        argv=argv,
        env=env,
        working_dir=c.spec.get("workingDir") or "",
        mounts=mounts,
        log=cfg.log_path(meta["namespace"], meta["name"], c.name),
        plan=pod_dir / "plans" / f"{c.name}.json",
        keep=cfg.keep_visible,
        banner=f"----- podrunner: start {attempt} of container {c.name} in pod {meta['namespace']}/{meta['name']} "
        f"(ip {pod_ip}): {argv} -----",
    )
    return Plan(
        launch=launch,
        message_file=message_file,
        env=env,
        pod_ip=pod_ip,
        ports=list(c.spec.get("ports") or []),
    )
