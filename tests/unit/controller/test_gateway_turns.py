"""Whole controller turns with the Gateway API router against an in-memory API: the route's weights
follow the steps, and a step or a rollback settles only on what the route says (issue 14, 0a)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from modelrollout.controller import observability, reconcile, settings
from modelrollout.traffic import gateway_api

pytestmark = pytest.mark.unit

NS = "ml"
Key = tuple[str, str, str]


class MemoryKube:
    """Stores objects by kind and name; a Deployment's pods are ready as soon as it is written."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []

    def get(self, *, api_version: str, kind: str, name: str, namespace: str | None) -> Any:
        del api_version, namespace
        obj = self.objects.get((kind, NS, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, **_: Any) -> list[dict[str, Any]]:
        return []

    def _store(self, verb: str, manifest: Any) -> None:
        obj = copy.deepcopy(dict(manifest))
        self.calls.append((verb, obj["kind"], obj["metadata"]["name"]))
        if obj["kind"] == "Deployment":
            n = obj["spec"]["replicas"]
            obj["metadata"]["generation"] = 1
            obj["status"] = {
                "observedGeneration": 1,
                "replicas": n,
                "updatedReplicas": n,
                "readyReplicas": n,
            }
        self.objects[(obj["kind"], NS, obj["metadata"]["name"])] = obj

    def apply(self, manifest: Any) -> Any:
        self._store("apply", manifest)

    def replace(self, manifest: Any) -> None:
        self._store("replace", manifest)

    def scale(self, *, kind: str, name: str, replicas: int, **_: Any) -> None:
        dep = copy.deepcopy(self.objects[(kind, NS, name)])
        dep["spec"]["replicas"] = replicas
        self._store("scale", dep)

    def delete(self, *, kind: str, name: str, **_: Any) -> bool:
        self.calls.append(("delete", kind, name))
        return self.objects.pop((kind, NS, name), None) is not None

    def event(self, **_: Any) -> None:
        pass

    def patch_status(self, *, kind: str, name: str, status: Any, **_: Any) -> None:
        body = self.objects[(kind, NS, name)]
        body["status"] = _merge(body.get("status") or {}, status)


def _merge(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def md(version: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": NS, "uid": "u1", "generation": int(version)},
        "spec": {
            "model": {"name": "iris", "version": version, "uri": f"file:///m/{version}.skops"},
            "serving": {"replicas": 2},
            "rollout": {"steps": steps, "trafficRouting": {"gatewayAPI": {"httpRoute": "web"}}},
        },
    }


ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "web", "namespace": NS},
    "spec": {"rules": [{"backendRefs": [{"name": "iris-stable", "port": 8080}]}]},
}


def route_weights(kube: MemoryKube) -> tuple[int, int]:
    refs = kube.objects[("HTTPRoute", NS, "web")]["spec"]["rules"][0]["backendRefs"]
    by_name = {b["name"]: b.get("weight", 1) for b in refs}
    return by_name["iris-stable"], by_name.get("iris-canary", 0)


def turn(kube: MemoryKube) -> dict[str, Any]:
    reconcile.reconcile(
        kube=kube,  # type: ignore[arg-type]
        settings=settings.Settings(image="model-rollout:test"),
        providers=reconcile.Providers(),
        metrics=observability.OperatorMetrics(),
        namespace=NS,
        name="iris",
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )
    status: dict[str, Any] = kube.objects[("ModelDeployment", NS, "iris")]["status"]
    return status


def healthy_v1(kube: MemoryKube, steps: list[dict[str, Any]]) -> None:
    kube.objects[("HTTPRoute", NS, "web")] = copy.deepcopy(ROUTE)
    kube.objects[("ModelDeployment", NS, "iris")] = md("1", steps)
    for _ in range(6):
        if turn(kube).get("phase") == "Healthy":
            return
    raise AssertionError("version 1 never became Healthy")


def test_the_route_weights_follow_each_step_and_the_new_version_is_promoted() -> None:
    steps = [{"setWeight": 20}, {"setWeight": 60}]
    kube = MemoryKube()
    healthy_v1(kube, steps)
    body = kube.objects[("ModelDeployment", NS, "iris")]
    body["spec"] = md("2", steps)["spec"]
    body["metadata"]["generation"] = 2
    actual: dict[int, float] = {}  # requested weight -> the last actual weight status reported
    for _ in range(30):
        status = turn(kube)
        weight = status.get("canaryWeight", 0)
        if weight and route_weights(kube) == (100 - weight, weight):
            actual[weight] = status.get("actualCanaryWeight", -1)
        if status.get("phase") == "Healthy" and status.get("stableVersion") == "2":
            break
    else:
        raise AssertionError(f"never promoted; status {status}")
    # Each step's weight is on the route, and status reports what the route carries.
    assert actual == {20: 20.0, 60: 60.0, 100: 100.0}
    # Promoted: all traffic back on the stable Service, which now runs version 2.
    turn(kube)
    assert route_weights(kube) == (100, 0)


def test_a_rollback_settles_once_the_route_sends_everything_to_the_stable() -> None:
    steps = [{"setWeight": 30}, {"pause": {}}]
    kube = MemoryKube()
    healthy_v1(kube, steps)
    body = kube.objects[("ModelDeployment", NS, "iris")]
    body["spec"] = md("2", steps)["spec"]
    body["metadata"]["generation"] = 2
    for _ in range(10):
        status = turn(kube)
        if status.get("phase") == "Paused":
            break
    assert route_weights(kube) == (70, 30)
    assert gateway_api.canary_share_of(kube.objects[("HTTPRoute", NS, "web")], _target()) == 30
    body["metadata"]["annotations"] = {"modelrollout.io/abort": "t1"}
    phases = [turn(kube).get("phase") for _ in range(4)]
    assert "RolledBack" in phases, phases
    assert route_weights(kube) == (100, 0)


def test_unchanged_services_and_route_are_not_written_again() -> None:
    steps = [{"setWeight": 30}, {"pause": {}}]
    kube = MemoryKube()
    healthy_v1(kube, steps)
    body = kube.objects[("ModelDeployment", NS, "iris")]
    body["spec"] = md("2", steps)["spec"]
    body["metadata"]["generation"] = 2
    for _ in range(10):
        if turn(kube).get("phase") == "Paused":
            break
    kube.calls.clear()
    turn(kube)
    assert kube.calls == []


def _target() -> Any:
    from modelrollout import traffic

    return traffic.Target(
        namespace=NS, stable_service="iris-stable", canary_service="iris-canary", port=8080
    )
