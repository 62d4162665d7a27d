"""A container's environment as the kubelet builds it: envFrom, env with valueFrom, and $(VAR) expansion.

Pure: ConfigMaps and Secrets come through the Sources protocol; the pod runner passes its API reader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from testbed.podrunner import quantity

_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")
# The kubelet skips envFrom keys that are not valid variable names (and records an event).
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class EnvError(ValueError):
    """A container's environment cannot be built; the kubelet reports CreateContainerConfigError."""


class Sources(Protocol):
    def config_map(self, namespace: str, name: str) -> dict[str, str] | None: ...

    def secret(self, namespace: str, name: str) -> dict[str, str] | None: ...


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: `$$` escapes, unknown or unclosed references stay as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$" or i + 1 >= len(text):
            out.append(text[i])
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            out.append(env.get(name, f"$({name})"))
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def field_value(pod: Mapping[str, Any], path: str, *, pod_ip: str, host_ip: str) -> str:
    """The downward API: the value of a fieldRef's fieldPath for this pod."""
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    if path in {"metadata.labels", "metadata.annotations"}:
        values = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{_go_quote(v)}"' for k, v in sorted(values.items()))
    match = _SUBSCRIPT.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise EnvError(f"fieldRef {path!r} is not a field the downward API supports")


def resource_value(pod: Mapping[str, Any], ref: Mapping[str, Any], *, container: str) -> str:
    """A resourceFieldRef's value; without a limit the node's allocatable stands in, as in the kubelet."""
    name = ref.get("containerName") or container
    spec = next((c for c in _all_containers(pod) if c.get("name") == name), None)
    if spec is None:
        raise EnvError(f"resourceFieldRef names container {name!r}, which this pod does not have")
    resource = ref.get("resource", "")
    kind, _, what = resource.partition(".")
    amount = (spec.get("resources", {}).get(kind) or {}).get(what)
    return quantity.divide(
        amount if amount is not None else quantity.node_allocatable(what, kind=kind),
        ref.get("divisor") or "1",
        resource=resource,
    )


def resolve(
    container: Mapping[str, Any],
    pod: Mapping[str, Any],
    *,
    sources: Sources,
    pod_ip: str,
    host_ip: str,
    base: Mapping[str, str],
) -> dict[str, str]:
    """base (PATH, service variables...) overlaid with envFrom, then env, in order, expanded as it goes."""
    namespace = pod.get("metadata", {}).get("namespace", "")
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for key, value in _env_from(source, namespace=namespace, sources=sources).items():
            if _ENV_NAME.match(prefix + key):
                env[prefix + key] = value
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" in var:
            found = _value_from(
                var["valueFrom"],
                pod,
                container=container,
                sources=sources,
                pod_ip=pod_ip,
                host_ip=host_ip,
                var=name,
            )
            if found is not None:
                env[name] = found
        else:
            env[name] = expand(var.get("value", ""), env)
    return env


def _env_from(source: Mapping[str, Any], *, namespace: str, sources: Sources) -> dict[str, str]:
    for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
        if field in source:
            ref = source[field]
            found = (sources.config_map if kind == "ConfigMap" else sources.secret)(
                namespace, ref["name"]
            )
            if found is None:
                if ref.get("optional"):
                    return {}
                raise EnvError(f'{kind.lower()} "{ref["name"]}" not found in namespace {namespace}')
            return found
    return {}


def _value_from(
    value_from: Mapping[str, Any],
    pod: Mapping[str, Any],
    *,
    container: Mapping[str, Any],
    sources: Sources,
    pod_ip: str,
    host_ip: str,
    var: str,
) -> str | None:
    namespace = pod.get("metadata", {}).get("namespace", "")
    if "fieldRef" in value_from:
        return field_value(pod, value_from["fieldRef"]["fieldPath"], pod_ip=pod_ip, host_ip=host_ip)
    if "resourceFieldRef" in value_from:
        return resource_value(
            pod, value_from["resourceFieldRef"], container=container.get("name", "")
        )
    for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        if field in value_from:
            ref = value_from[field]
            found = (sources.config_map if kind == "ConfigMap" else sources.secret)(
                namespace, ref["name"]
            )
            if found is None or ref["key"] not in found:
                if ref.get("optional"):
                    return None
                if found is None:
                    raise EnvError(
                        f'{kind.lower()} "{ref["name"]}" not found (env {var}) in {namespace}'
                    )
                raise EnvError(
                    f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']} (env {var})"
                )
            return found[ref["key"]]
    raise EnvError(f"env {var} has a valueFrom the test bed does not know: {sorted(value_from)}")


def _all_containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = pod.get("spec", {})
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def _go_quote(value: str) -> str:
    # The kubelet writes labels with Go's %q; escaping backslash, quote and newlines matches it for text.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
