"""The chart as `helm template` renders it: restricted pods, RBAC that grants no more than the operator
uses, the environment the operator reads, and clear refusals of bad values. Quick: helm only renders."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout.controller import settings
from testbed import paths

pytestmark = pytest.mark.unit

CHART = Path(__file__).resolve().parents[3] / "charts" / "model-rollout"
HELM = paths.BIN / "helm"
needs_helm = pytest.mark.skipif(
    not HELM.exists(), reason=f"helm is not built yet ({HELM}): bash testbed/build-binaries.sh helm"
)


def render(*values: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    sets = [a for v in values for a in ("--set", v)]
    done = subprocess.run(
        [str(HELM), "template", "mr", str(CHART), "--namespace", "ops", *sets],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm template failed:\n{done.stderr}")
    return done


def objects(*values: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render(*values).stdout) if d]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for d in docs if d["kind"] in {"Role", "ClusterRole"} for r in d["rules"]]


@needs_helm
def test_the_operator_pod_meets_the_restricted_pod_security_standard() -> None:
    pod = one(objects(), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "hostNetwork" not in pod
    assert "hostPath" not in str(pod["volumes"])
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]


@needs_helm
def test_the_operator_runs_alone_and_is_probed_on_healthz() -> None:
    dep = one(objects(), "Deployment")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"]["type"] == "Recreate"
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["ports"] == [{"name": "metrics", "containerPort": 8081, "protocol": "TCP"}]
    assert container["args"][0] == "operator"
    assert "command" not in container, "the image's entrypoint (model-rollout) runs"


@needs_helm
def test_the_operator_reads_its_settings_from_the_environment_the_chart_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dep = one(
        objects("image.tag=1.2.3", "rbac.scope=namespaced", "watchNamespaces={a,b}"), "Deployment"
    )
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    env = container["env"]
    names = [e["name"] for e in env]
    assert names.index("POD_IP") < names.index("MODEL_ROLLOUT_METRICS_ADDRESS"), (
        "$(POD_IP) expands only from a variable defined earlier"
    )
    pod_ip = next(e for e in env if e["name"] == "POD_IP")
    assert pod_ip["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    values = {e["name"]: e["value"] for e in env if "value" in e}
    assert values["MODEL_ROLLOUT_METRICS_ADDRESS"] == "$(POD_IP):8081"
    # What the operator makes of that environment, with the kubelet's expansion done.
    for name, value in values.items():
        monkeypatch.setenv(name, value.replace("$(POD_IP)", "10.1.2.3"))
    parsed = settings.parse([])
    assert parsed.image == "model-rollout:1.2.3"
    assert parsed.namespaces == ("a", "b")
    assert (parsed.metrics_host, parsed.metrics_port) == ("10.1.2.3", 8081)
    assert container["image"] == "model-rollout:1.2.3"


@needs_helm
def test_the_api_client_limits_and_workers_are_chart_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dep = one(
        objects("operator.workers=32", "operator.kubeApiQps=250", "operator.kubeApiBurst=500"),
        "Deployment",
    )
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    for e in container["env"]:
        if "value" in e:
            monkeypatch.setenv(e["name"], e["value"].replace("$(POD_IP)", "10.1.2.3"))
    parsed = settings.parse([])
    assert (parsed.workers, parsed.kube_qps, parsed.kube_burst) == (32, 250.0, 500)


@needs_helm
def test_a_digest_pins_the_image_and_a_serving_image_can_differ() -> None:
    digest = "sha256:" + "a" * 64
    dep = one(objects(f"image.digest={digest}", "servingImage=reg/serve:2"), "Deployment")
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"model-rollout@{digest}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODEL_ROLLOUT_IMAGE"] == "reg/serve:2"


@needs_helm
def test_rbac_has_no_wildcards_no_secrets_no_configmaps_and_no_exec() -> None:
    for mode in ([], ["rbac.scope=namespaced", "watchNamespaces={a}"]):
        granted = rules(objects(*mode))
        assert granted
        for rule in granted:
            for key in ("verbs", "resources", "apiGroups"):
                assert "*" not in rule[key], rule
            assert not {"secrets", "configmaps", "pods/exec", "pods/attach", "namespaces"} & set(
                rule["resources"]
            ), rule
            assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"])


@needs_helm
def test_namespaced_mode_renders_nothing_cluster_wide_and_a_role_per_namespace() -> None:
    docs = objects("rbac.scope=namespaced", "watchNamespaces={a,b}")
    kinds = [d["kind"] for d in docs]
    assert "ClusterRole" not in kinds
    assert "ClusterRoleBinding" not in kinds
    roles = sorted(d["metadata"]["namespace"] for d in docs if d["kind"] == "Role")
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert roles == ["a", "b"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["a", "b"]
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "mr-model-rollout", "namespace": "ops"}
        ]


@needs_helm
def test_gateway_api_rights_can_be_left_out() -> None:
    groups = {g for r in rules(objects("rbac.gatewayAPI=false")) for g in r["apiGroups"]}
    assert "gateway.networking.k8s.io" not in groups
    assert "gateway.networking.k8s.io" in {g for r in rules(objects()) for g in r["apiGroups"]}


@needs_helm
def test_monitors_and_dashboard_are_off_by_default_and_render_when_asked() -> None:
    kinds = {d["kind"] for d in objects()}
    assert not {"ServiceMonitor", "PodMonitor", "ConfigMap"} & kinds
    docs = objects(
        "metrics.serviceMonitor.enabled=true",
        "metrics.podMonitor.enabled=true",
        "dashboard.enabled=true",
    )
    assert one(docs, "ServiceMonitor")["spec"]["endpoints"][0]["honorLabels"] is True
    assert one(docs, "PodMonitor")["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    board = one(docs, "ConfigMap")
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert '"uid": "model-rollout"' in board["data"]["model-rollout.json"]


@needs_helm
def test_the_disruption_budget_takes_min_available_instead_when_given() -> None:
    assert one(objects(), "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    spec = one(objects("podDisruptionBudget.minAvailable=1"), "PodDisruptionBudget")["spec"]
    assert spec["minAvailable"] == 1
    assert "maxUnavailable" not in spec


@needs_helm
@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["rbac.scope=namespaced"], "rbac.scope=namespaced needs watchNamespaces"),
        (["rbac.scope=everywhere"], "value must be one of 'cluster', 'namespaced'"),
        (["imagee.tag=1"], "additional properties 'imagee' not allowed"),
        (["watchNamespaces={Bad_NS}"], "/watchNamespaces/0"),
        (["image.digest=latest"], "/image/digest"),
        (["serviceAccount.create=false"], "serviceAccount.name is required"),
        (["operator.kubeApiQps=0"], "/operator/kubeApiQps"),
        (["operator.workers=0"], "/operator/workers"),
    ],
)
def test_bad_values_are_refused_with_what_was_wrong(values: list[str], message: str) -> None:
    done = render(*values, check=False)
    assert done.returncode != 0
    assert message in done.stderr
