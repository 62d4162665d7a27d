"""One in-memory Kubernetes API for unit tests: what `k8s.client.Kube` offers, over a dict of objects.

The controller's turns run against it (tests/unit/controller), and the plugin's fake API server
serves its ModelDeployments from it (tests/unit/plugin/fake_api.py). Every call is recorded, so a
test can say what a turn read and wrote, and in which order. Deployments get a status as their
controller would give it: all pods ready at once, unless `pods_ready` is False.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str, str]
"""(kind, namespace, name)."""

READS = frozenset({"get", "list"})


@dataclass(frozen=True)
class Call:
    verb: str
    kind: str
    name: str
    """The object's name; the label selector for a list."""


def merge_patch(old: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386: None removes a field, objects merge, everything else replaces."""
    out = dict(old)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge_patch(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _matches(labels: Mapping[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


@dataclass
class FakeKube:
    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every Event recorded: reason, message, type, and the involved object's name."""
    pods_ready: bool = True
    """A Deployment's pods are all ready as soon as it is written; False leaves them unready."""
    _version: int = 0

    # The parts of k8s.client.Kube the operator calls.

    def get(
        self, *, api_version: str, kind: str, name: str, namespace: str | None
    ) -> dict[str, Any] | None:
        del api_version
        self.calls.append(Call("get", kind, name))
        obj = self.objects.get((kind, namespace or "", name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(
        self, *, api_version: str, kind: str, namespace: str | None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        del api_version
        self.calls.append(Call("list", kind, label_selector))
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self.objects.items())
            if k == kind
            and (namespace is None or ns == namespace)
            and _matches(obj["metadata"].get("labels") or {}, label_selector)
        ]

    def apply(
        self, manifest: Mapping[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]:
        return self._store("apply", manifest)

    def replace(self, manifest: Mapping[str, Any]) -> None:
        self._store("replace", manifest)

    def scale(
        self, *, api_version: str, kind: str, name: str, namespace: str, replicas: int
    ) -> None:
        del api_version
        obj = copy.deepcopy(self.objects[(kind, namespace, name)])
        obj["spec"]["replicas"] = replicas
        self._store("scale", obj)

    def delete(self, *, api_version: str, kind: str, name: str, namespace: str | None) -> bool:
        del api_version
        self.calls.append(Call("delete", kind, name))
        return self.objects.pop((kind, namespace or "", name), None) is not None

    def patch_status(
        self, *, api_version: str, kind: str, name: str, namespace: str, status: Mapping[str, Any]
    ) -> None:
        del api_version
        self.calls.append(Call("patch_status", kind, name))
        obj = self.objects[(kind, namespace, name)]
        obj["status"] = merge_patch(obj.get("status") or {}, status)

    def event(
        self,
        *,
        involved: Mapping[str, Any],
        reason: str,
        message: str,
        type: str = "Normal",
        now: str,
    ) -> None:
        self.calls.append(Call("event", "Event", reason))
        self.events.append(
            {
                "object": involved["metadata"]["name"],
                "reason": reason,
                "message": message,
                "type": type,
                "time": now,
            }
        )

    # For tests.

    def put(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store an object as a user or another controller would, without recording a call."""
        stored = copy.deepcopy(dict(obj))
        meta = stored["metadata"]
        self.objects[(stored["kind"], meta.get("namespace", ""), meta["name"])] = stored
        return stored

    def obj(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.objects[(kind, namespace, name)]

    def has(self, kind: str, namespace: str, name: str) -> bool:
        return (kind, namespace, name) in self.objects

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.verb not in READS]

    def reads_after_writes(self) -> list[Call]:
        """Reads that came after the first write: none, when observe reads everything first."""
        first = next((i for i, c in enumerate(self.calls) if c.verb not in READS), len(self.calls))
        return [c for c in self.calls[first:] if c.verb in READS]

    def set_ready(self, namespace: str, name: str, ready: int) -> None:
        """Make `ready` pods of a Deployment ready (its controller's and kubelets' part)."""
        dep = self.objects[("Deployment", namespace, name)]
        dep["status"]["readyReplicas"] = ready

    def _store(self, verb: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(dict(manifest))
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace", ""), meta["name"])
        self.calls.append(Call(verb, obj["kind"], meta["name"]))
        old = self.objects.get(key)
        self._version += 1
        meta["resourceVersion"] = str(self._version)
        meta.setdefault("uid", f"uid-{meta['name']}")
        v = self._version  # creation order, as the API server's timestamps give it
        created = f"2026-01-01T{v // 3600:02d}:{v // 60 % 60:02d}:{v % 60:02d}Z"
        meta["creationTimestamp"] = (
            (old or {}).get("metadata", {}).get("creationTimestamp", created)
        )
        if obj["kind"] == "Deployment":
            generation = int((old or {}).get("metadata", {}).get("generation") or 0) + 1
            meta["generation"] = generation
            # An apply that leaves replicas out (an HPA owns them) keeps them; a new one gets 1.
            old_n = ((old or {}).get("spec") or {}).get("replicas", 1)
            n = int(obj["spec"].setdefault("replicas", old_n))
            obj["status"] = {
                "observedGeneration": generation,
                "replicas": n,
                "updatedReplicas": n,
                "readyReplicas": n if self.pods_ready else 0,
            }
        elif old is not None and "status" in old and "status" not in obj:
            obj["status"] = old["status"]
        self.objects[key] = obj
        return copy.deepcopy(obj)
