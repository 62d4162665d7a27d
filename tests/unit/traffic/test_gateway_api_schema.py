"""The routes the Gateway API router writes meet the HTTPRoute CRD the test bed installs (v1: its
structural schema and every CEL rule), checked here without an API server; the e2e tests send them
to a real one.

The CRD comes from the `sigs.k8s.io/gateway-api` module in the Go module cache, where `testbed up`
downloads it; without it the test is skipped (it never reaches the network).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout import traffic
from testbed import gateway_api as bed_gateway_api

cel = pytest.importorskip("cel", reason="the CEL interpreter comes with the test extra")
pytestmark = pytest.mark.unit

MODULE_CACHE = Path(os.environ.get("GOMODCACHE") or Path.home() / "go" / "pkg" / "mod")
CRD = (
    MODULE_CACHE
    / f"sigs.k8s.io/gateway-api@{bed_gateway_api.VERSION}"
    / "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"
)
TARGET = traffic.Target(
    namespace="ml",
    stable_service="iris-stable",
    canary_service="iris-canary",
    port=8080,
    shadow_service="iris-shadow",
)
REF = traffic.ObjectRef("gateway.networking.k8s.io/v1", "HTTPRoute", "ml", "iris")
ROUTE: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "iris", "namespace": "ml"},
    "spec": {
        "parentRefs": [{"name": "web"}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/v2/models/iris"}}],
                "filters": [
                    {
                        "type": "RequestHeaderModifier",
                        "requestHeaderModifier": {"set": [{"name": "x-env", "value": "prod"}]},
                    },
                    {
                        "type": "RequestMirror",
                        "requestMirror": {"backendRef": {"name": "audit", "port": 80}},
                    },
                ],
                "backendRefs": [{"name": "iris-stable", "port": 8080}],
            },
            {"backendRefs": [{"name": "iris-stable", "port": 8080}]},  # no filters of its own
        ],
    },
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    if not CRD.is_file():
        pytest.skip(
            f"{CRD} is not in the Go module cache: `python -m testbed up` downloads it (or "
            f"`go mod download sigs.k8s.io/gateway-api@{bed_gateway_api.VERSION}`)"
        )
    crd = yaml.safe_load(CRD.read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    spec: dict[str, Any] = v1["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec


def defaulted(node: dict[str, Any], value: Any) -> Any:
    """`value` with the schema's defaults filled in, all the way down, as the API server does."""
    if isinstance(value, dict):
        props = node.get("properties", {})
        out = {k: copy.deepcopy(s["default"]) for k, s in props.items() if "default" in s}
        out.update(value)
        return {k: defaulted(props.get(k, {}), v) for k, v in out.items()}
    if isinstance(value, list):
        return [defaulted(node.get("items", {}), v) for v in value]
    return value


def problems(node: dict[str, Any], value: Any) -> list[str]:
    """What the API server would refuse or prune in `value`: fields it does not know (pruned, so a
    filter would silently lose them), missing required ones, bad scalars, and failing CEL rules
    (run after the schema's defaults are filled in, as the API server does)."""
    return _problems(node, defaulted(node, value), "spec")


def _problems(node: dict[str, Any], value: Any, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        props = node.get("properties", {})
        found += [f"{path}.{r}: required" for r in node.get("required", []) if r not in value]
        found += [f"{path}.{k}: unknown field" for k in value if k not in props]
        for k, sub in props.items():
            if k in value:
                found += _problems(sub, value[k], f"{path}.{k}")
    elif isinstance(value, list):
        if len(value) > node.get("maxItems", len(value)):
            found.append(f"{path}: more than {node['maxItems']} items")
        for i, item in enumerate(value):
            found += _problems(node.get("items", {}), item, f"{path}[{i}]")
    elif "enum" in node and value not in node["enum"]:
        found.append(f"{path}: {value!r} is none of {node['enum']}")
    elif node.get("type") == "integer" and not (
        isinstance(value, int) and node.get("minimum", value) <= value <= node.get("maximum", value)
    ):
        found.append(f"{path}: {value!r} is not an integer in range")
    elif node.get("type") == "string" and not (
        isinstance(value, str)
        and node.get("minLength", 0) <= len(value) <= node.get("maxLength", len(value))
        and re.search(node.get("pattern", ""), value)
    ):
        found.append(f"{path}: {value!r} is not a string the schema takes")
    for rule in node.get("x-kubernetes-validations", []):
        if "oldSelf" not in rule["rule"] and not cel.evaluate(rule["rule"], {"self": value}):
            found.append(f"{path}: {rule['message']}")
    return found


def written(current: dict[str, Any], *, mirror: int, weight: int = 0) -> dict[str, Any]:
    router = traffic.GatewayAPIRouter(http_route="iris")
    plan = router.plan(replicas=2, weight=weight, stable_ready=2, canary_ready=2)
    [route] = router.desired_objects(
        dataclasses.replace(plan, mirror_percent=mirror), target=TARGET, current={REF: current}
    )
    return route


@pytest.mark.parametrize("mirror", [1, 50, 100])
def test_the_route_of_a_shadow_step_meets_the_httproute_schema_and_its_rules(
    schema: dict[str, Any], mirror: int
) -> None:
    route = written(ROUTE, mirror=mirror)
    assert all(
        f.get("type") == "RequestMirror" for f in route["spec"]["rules"][1]["filters"]
    )  # the filter went on every rule serving the stable
    assert problems(schema, route["spec"]) == []


def test_the_route_after_the_step_meets_them_too(schema: dict[str, Any]) -> None:
    after = written(written(ROUTE, mirror=100), mirror=0, weight=50)
    assert problems(schema, after["spec"]) == []


def test_the_check_refuses_what_the_api_server_would(schema: dict[str, Any]) -> None:
    """The check can fail: a filter with percent and fraction, one the schema prunes, a bad percent."""
    route = written(ROUTE, mirror=30)
    both = copy.deepcopy(route["spec"])
    both["rules"][1]["filters"][0]["requestMirror"]["fraction"] = {"numerator": 1}
    assert any("Only one of percent or fraction" in p for p in problems(schema, both))
    pruned = copy.deepcopy(route["spec"])
    pruned["rules"][1]["filters"][0]["requestMirror"]["share"] = 30
    assert problems(schema, pruned) == [
        "spec.rules[1].filters[0].requestMirror.share: unknown field"
    ]
    over = copy.deepcopy(route["spec"])
    over["rules"][1]["filters"][0]["requestMirror"]["percent"] = 101
    assert problems(schema, over) == [
        "spec.rules[1].filters[0].requestMirror.percent: 101 is not an integer in range"
    ]
