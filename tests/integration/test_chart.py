"""The Helm chart on the real node's bed: it lints, the API server accepts it in both RBAC modes, the
operator it installs runs from our image in a container under its own ServiceAccount (restricted
profile), rolls out and rolls back, and its rights stop there."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed import paths, prometheus
from tests.e2e import support
from tests.testbed_client import Testbed, eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "model-rollout"
# Our image as build-image.sh made it and the node's containerd holds it (no registry to pull from).
_REPOSITORY, _TAG = support.NODE_IMAGE.rsplit(":", 1)
IMAGE = [
    "--set", f"image.repository={_REPOSITORY}", "--set", f"image.tag={_TAG}",
    "--set", "image.pullPolicy=Never",
]  # fmt: skip
# The restricted Pod Security profile, enforced where the operator runs and where it makes pods.
RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"


def helm(testbed: Testbed, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(paths.BIN / "helm"), "--kubeconfig", str(testbed.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def scoped(namespaces: list[str]) -> list[str]:
    return [
        "--set",
        "rbac.scope=namespaced",
        "--set",
        f"watchNamespaces={{{','.join(namespaces)}}}",
    ]


@pytest.fixture
def extra_namespaces(testbed: Testbed) -> Iterator[list[str]]:
    """Two more fresh namespaces: one the operator watches, one it must leave alone."""
    names = [f"t-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for ns in names:
        testbed.kubectl("create", "namespace", ns)
        testbed.kubectl("label", "namespace", ns, "modelrollout.io/test=true")
    yield names
    for ns in names:
        testbed.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture
def models_claim(testbed: Testbed, extra_namespaces: list[str]) -> Iterator[Path]:
    """The demo models as the claim `models` of the watched namespace (pvc://models/...), where
    the serving and validation pods mount it; the namespace enforces the restricted profile."""
    watched = extra_namespaces[0]
    models = support.demo_models()
    testbed.kubectl("label", "namespace", watched, RESTRICTED)
    volume = support.models_volume(testbed, watched, models)
    yield models
    testbed.kubectl("delete", "pv", volume, "--wait=false", check=False)


def test_chart_lints_strictly_in_both_rbac_modes(testbed: Testbed) -> None:
    helm(testbed, "lint", "--strict", str(CHART))
    helm(
        testbed, "lint", "--strict", str(CHART), *scoped(["ml"]), "--set", "dashboard.enabled=true"
    )


def test_namespaced_mode_without_namespaces_is_refused_with_a_way_out(testbed: Testbed) -> None:
    done = helm(testbed, "template", "x", str(CHART), "--set", "rbac.scope=namespaced", check=False)
    assert done.returncode != 0
    assert "rbac.scope=namespaced needs watchNamespaces" in done.stderr


@pytest.mark.parametrize("mode", ["cluster", "namespaced"])
def test_rendered_chart_is_accepted_by_the_api_server(
    testbed: Testbed, namespace: str, extra_namespaces: list[str], mode: str
) -> None:
    opts = scoped(extra_namespaces) if mode == "namespaced" else []
    rendered = helm(
        testbed, "template", "mr", str(CHART), "-n", namespace, "--include-crds", *opts,
        "--set", "dashboard.enabled=true", "--set", "podDisruptionBudget.enabled=true",
    ).stdout  # fmt: skip
    # Pod Security admission warns about a workload whose pods would break the restricted profile.
    testbed.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/warn=restricted")
    # Every object names its namespace (Roles live in the watched ones), so no -n here.
    done = testbed.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    assert "PodSecurity" not in done.stderr, done.stderr
    kinds = {line.split("/")[0].split(".")[0] for line in done.stdout.splitlines()}
    expected = {"serviceaccount", "deployment", "service", "poddisruptionbudget", "configmap"}
    expected |= (
        {"role", "rolebinding"} if mode == "namespaced" else {"clusterrole", "clusterrolebinding"}
    )
    assert expected <= kinds, done.stdout


# --- rights: exactly what the operator uses, in both modes ---

# (verb, resource[.group][/subresource]) as `kubectl auth can-i` spells them.
NEEDED = [
    ("get", "modeldeployments.modelrollout.io"),
    ("list", "modeldeployments.modelrollout.io"),
    ("watch", "modeldeployments.modelrollout.io"),
    ("patch", "modeldeployments.modelrollout.io"),
    ("patch", "modeldeployments.modelrollout.io/status"),
    ("update", "modeldeployments.modelrollout.io/finalizers"),
    ("get", "deployments.apps"),
    ("create", "deployments.apps"),
    ("patch", "deployments.apps"),
    ("delete", "deployments.apps"),
    ("get", "services"),
    ("create", "services"),
    ("patch", "services"),
    ("get", "jobs.batch"),
    ("create", "jobs.batch"),
    ("list", "jobs.batch"),
    ("delete", "jobs.batch"),
    ("list", "pods"),
    # k8s/informer.py: watch-fed copies of our Deployments, Services, Jobs and pods.
    ("list", "deployments.apps"),
    ("watch", "deployments.apps"),
    ("list", "services"),
    ("watch", "services"),
    ("watch", "jobs.batch"),
    ("watch", "pods"),
    ("create", "events"),
    ("get", "httproutes.gateway.networking.k8s.io"),
    ("update", "httproutes.gateway.networking.k8s.io"),
]
FORBIDDEN = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "configmaps"),
    ("update", "configmaps"),
    ("patch", "configmaps"),
    ("delete", "configmaps"),
    ("create", "pods/exec"),
    ("create", "pods"),
    ("delete", "pods"),
    ("get", "pods/log"),
    ("create", "pods/portforward"),
    ("delete", "modeldeployments.modelrollout.io"),
    ("update", "modeldeployments.modelrollout.io"),
    ("update", "deployments.apps"),
    ("delete", "services"),
    ("create", "serviceaccounts/token"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("delete", "httproutes.gateway.networking.k8s.io"),
]
CLUSTER_FORBIDDEN = [
    ("delete", "namespaces"),
    ("create", "namespaces"),
    ("list", "secrets"),
    ("list", "nodes"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("update", "customresourcedefinitions.apiextensions.k8s.io"),
    ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
]


def can_i(testbed: Testbed, sa: str, verb: str, resource: str, *, ns: str | None) -> bool:
    """What `kubectl auth can-i VERB RESOURCE --as=SA` asks, sent as a SubjectAccessReview so a group
    whose CRDs are not installed (Gateway API) is still checked by its real name."""
    name, _, subresource = resource.partition("/")
    plural, _, group = name.partition(".")
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": sa,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{sa.split(':')[2]}", "system:authenticated"],
            "resourceAttributes": {
                "verb": verb, "group": group, "resource": plural, "subresource": subresource,
                **({"namespace": ns} if ns else {}),
            },
        },
    }  # fmt: skip
    out = testbed.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(review))
    return bool(json.loads(out.stdout)["status"].get("allowed"))


def granted(testbed: Testbed, sa: str, checks: list[tuple[str, str]], ns: str | None) -> list[str]:
    return [" ".join(c) for c in checks if can_i(testbed, sa, *c, ns=ns)]


@pytest.fixture
def rbac_only(testbed: Testbed, namespace: str) -> Iterator[Any]:
    """Applies just the ServiceAccount and RBAC objects of a rendering (no operator pod); removes them."""
    applied: list[str] = []
    release = f"rbac-{uuid.uuid4().hex[:6]}"

    def apply(*opts: str) -> str:
        rendered = helm(
            testbed, "template", release, str(CHART), "-n", namespace, *opts,
            "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml",
        ).stdout  # fmt: skip
        testbed.kubectl("apply", "-f", "-", input=rendered)
        applied.append(rendered)
        return f"system:serviceaccount:{namespace}:{release}-model-rollout"

    yield apply
    for rendered in applied:
        testbed.kubectl("delete", "--ignore-not-found", "-f", "-", input=rendered, check=False)


def test_cluster_mode_grants_what_the_operator_uses_and_nothing_more(
    testbed: Testbed, namespace: str, rbac_only: Any
) -> None:
    sa = rbac_only()
    for ns in (namespace, "kube-system"):
        missing = [" ".join(c) for c in NEEDED if not can_i(testbed, sa, *c, ns=ns)]
        assert not missing, f"the operator's account lacks rights it uses in {ns}: {missing}"
        assert not granted(testbed, sa, FORBIDDEN, ns)
    assert can_i(testbed, sa, "watch", "modeldeployments.modelrollout.io", ns=None)
    assert can_i(testbed, sa, "watch", "customresourcedefinitions.apiextensions.k8s.io", ns=None)
    assert not granted(testbed, sa, CLUSTER_FORBIDDEN, None)


def test_namespaced_mode_grants_nothing_outside_the_watched_namespaces(
    testbed: Testbed, namespace: str, extra_namespaces: list[str], rbac_only: Any
) -> None:
    watched, unwatched = extra_namespaces
    sa = rbac_only(*scoped([watched]))
    missing = [" ".join(c) for c in NEEDED if not can_i(testbed, sa, *c, ns=watched)]
    assert not missing, f"the operator's account lacks rights it uses in {watched}: {missing}"
    assert not granted(testbed, sa, FORBIDDEN, watched)
    assert not granted(testbed, sa, CLUSTER_FORBIDDEN, None)
    for ns in (unwatched, namespace, "default", "kube-system"):
        leaked = granted(testbed, sa, [*NEEDED, ("get", "configmaps"), ("list", "services")], ns)
        assert not leaked, f"rights in unwatched namespace {ns}: {leaked}"
    # Nothing cluster-wide: no watch across namespaces, no CRDs, no namespace listing.
    cluster_wide = [
        ("watch", "modeldeployments.modelrollout.io"),
        ("list", "customresourcedefinitions.apiextensions.k8s.io"),
        ("list", "namespaces"),
    ]
    assert not granted(testbed, sa, cluster_wide, None)


# --- the operator itself, installed by the chart, under its own account ---


def model_deployment(ns: str, *, version: str, model_file: str, check_max: float) -> str:
    """iris at `version`, read from the claim; its canary analysis is one PromQL check, `vector(1)`
    <= check_max, which the operator's pod asks of prometheus.monitoring, so a rollout's fate is
    set by the spec alone, with no traffic needed."""
    return json.dumps({
        "apiVersion": "modelrollout.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": ns, "labels": {"modelrollout.io/test": "chart"}},
        "spec": {
            "model": {"name": "iris", "version": version, "uri": f"pvc://{support.MODELS_CLAIM}/models/{model_file}", "format": "skops"},
            "serving": {"replicas": 1},
            "validation": {
                "dataset": {"uri": f"pvc://{support.MODELS_CLAIM}/data/iris-test.csv", "format": "csv", "target": "species"},
                "thresholds": {"accuracy": {"min": 0.9}},
                "timeout": "3m",
            },
            "rollout": {"steps": [{"setWeight": 50}, {"analysis": {}}]},
            "analysis": {
                "prometheus": {"address": prometheus.IN_CLUSTER_URL},
                "interval": "2s",
                "count": 1,
                "metrics": [{"name": "always-one", "query": "vector(1)", "max": check_max}],
            },
            "rollback": {"automatic": True},
        },
    })  # fmt: skip


def status(testbed: Testbed, ns: str, name: str) -> dict[str, Any]:
    return dict(testbed.get("modeldeployment", name, "-n", ns).get("status") or {})


def operator_pod(testbed: Testbed, ns: str) -> dict[str, Any] | None:
    pods = testbed.get("pods", "-n", ns, "-l", "app.kubernetes.io/component=operator")["items"]
    return pods[0] if pods else None


def ready_operator_pod(testbed: Testbed, ns: str) -> dict[str, Any] | None:
    pod = operator_pod(testbed, ns)
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return pod if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None


@pytest.fixture
def operator(testbed: Testbed, namespace: str, extra_namespaces: list[str]) -> Iterator[str]:
    """The chart installed in `namespace`, watching the first extra namespace only; yields the release."""
    watched = extra_namespaces[0]
    release = "mr"
    # The operator's pod must be admitted where only the restricted Pod Security profile is allowed.
    testbed.kubectl("label", "namespace", namespace, RESTRICTED)
    helm(testbed, "install", release, str(CHART), "-n", namespace, *IMAGE, *scoped([watched]))
    try:
        yield release
    finally:
        # ModelDeployments carry kopf's finalizer: delete them while the operator still runs.
        for ns in extra_namespaces:
            testbed.kubectl(
                "delete", "modeldeployments", "--all", "-n", ns, "--timeout=60s", check=False
            )
        helm(testbed, "uninstall", release, "-n", namespace, "--wait", check=False)
        for ns in extra_namespaces:
            for md in testbed.get("modeldeployments", "-n", ns)["items"]:
                testbed.kubectl(
                    "patch", "modeldeployment", md["metadata"]["name"], "-n", ns, "--type=merge",
                    "-p", '{"metadata":{"finalizers":null}}', check=False,
                )  # fmt: skip


def test_operator_from_the_chart_rolls_out_and_rolls_back_under_its_own_account(
    testbed: Testbed,
    namespace: str,
    extra_namespaces: list[str],
    operator: str,
    models_claim: Path,
) -> None:
    watched, unwatched = extra_namespaces

    def apply(ns: str, *, version: str, model_file: str, check_max: float = 2) -> None:
        manifest = model_deployment(ns, version=version, model_file=model_file, check_max=check_max)
        testbed.kubectl("apply", "-f", "-", input=manifest)

    def wait_for(
        phases: set[str], what: str, *, watch: Callable[[], None] = lambda: None
    ) -> dict[str, Any]:
        def reached() -> bool:
            watch()
            return status(testbed, watched, "iris").get("phase") in phases

        try:
            eventually(reached, timeout=240, interval=1, what=what)
        except AssertionError as e:
            log = testbed.pod_log(namespace, pod["metadata"]["name"])[-4000:]
            raise AssertionError(
                f"{e}\nstatus: {status(testbed, watched, 'iris')}\noperator log:\n{log}"
            ) from e
        return status(testbed, watched, "iris")

    def stable_version() -> str:
        """The version the stable Deployment serves, once its rollout is complete and ready."""

        def settled() -> dict[str, Any] | None:
            dep = testbed.get("deployment", "iris-stable", "-n", watched)
            st = dep.get("status") or {}
            done = st.get("observedGeneration", 0) >= dep["metadata"]["generation"] and (
                st.get("updatedReplicas") == st.get("readyReplicas") == st.get("replicas") == 1
            )
            return dep if done else None

        dep = eventually(settled, timeout=60, what="the stable Deployment to settle")
        return str(dep["spec"]["template"]["metadata"]["labels"]["modelrollout.io/version"])

    def canary_exists() -> bool:
        return (
            testbed.kubectl(
                "get", "deployment", "iris-canary", "-n", watched, check=False
            ).returncode
            == 0
        )

    pod = eventually(
        lambda: ready_operator_pod(testbed, namespace),
        timeout=120,
        what="the operator pod to be Ready",
    )
    assert pod["spec"]["serviceAccountName"] == f"{operator}-model-rollout"
    # Our image, in a container held to the restricted profile: non-root, read-only root.
    container = pod["spec"]["containers"][0]
    assert container["image"] == support.NODE_IMAGE
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    name = pod["metadata"]["name"]
    uid = testbed.kubectl("exec", "-n", namespace, name, "--", "id", "-u").stdout.strip()
    assert uid == "65532"
    refused = testbed.kubectl("exec", "-n", namespace, name, "--", "touch", "/x", check=False)
    assert refused.returncode != 0
    assert "Read-only file system" in refused.stderr
    # From the host to the pod's own address on the node's bridge.
    with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8081/healthz", timeout=5) as r:
        assert r.read() == b"ok\n"

    # v1: validated, then stable at once (nothing to canary against).
    apply(watched, version="1", model_file="iris-v1.skops")
    apply(unwatched, version="1", model_file="iris-v1.skops")
    final = wait_for({"Healthy"}, "iris v1 to become Healthy")
    assert final["stableVersion"] == "1"
    assert stable_version() == "1"

    # v2: validated, canary at 50%, its analysis passes, promoted; the canary is removed.
    apply(watched, version="2", model_file="iris-v2.skops")
    canary_seen: list[bool] = []
    final = wait_for(
        {"Healthy", "RolledBack", "Failed"}, "iris v2 to be promoted", watch=lambda: canary_seen.append(canary_exists())
    )  # fmt: skip
    assert final["phase"] == "Healthy", final
    assert final["stableVersion"] == "2"
    assert any(canary_seen), "v2 was promoted without ever running a canary"
    eventually(lambda: not canary_exists(), timeout=60, what="the promoted canary to be removed")
    assert stable_version() == "2"

    # v3: validated, canary at 50%, its analysis fails: rolled back automatically to v2.
    apply(watched, version="3", model_file="iris-v2.skops", check_max=0)
    final = wait_for({"Healthy", "RolledBack", "Failed"}, "iris v3 to be rolled back")
    assert final["phase"] == "RolledBack", final
    assert final["stableVersion"] == "2"
    eventually(lambda: not canary_exists(), timeout=60, what="the failed canary to be removed")
    assert stable_version() == "2"

    # v4: fails offline validation: no traffic ever moves, no canary is ever made.
    apply(watched, version="4", model_file="iris-inaccurate.skops")
    canary_seen.clear()
    final = wait_for(
        {"Healthy", "RolledBack", "Failed"}, "iris v4 (inaccurate) to fail validation",
        watch=lambda: canary_seen.append(canary_exists()),
    )  # fmt: skip
    assert final["phase"] == "Failed", final
    assert final["validation"]["passed"] is False, final
    assert not any(canary_seen), "a canary Deployment was made for a version that failed validation"
    assert final["stableVersion"] == "2"
    assert stable_version() == "2"

    # Prometheus scraped the operator's own metrics from its pod IP, through the chart's annotations.
    eventually(
        lambda: {
            s["metric"]["outcome"]
            for s in testbed.query(f'modelrollout_rollouts_total{{namespace="{watched}"}}')
        } >= {"promoted", "rolled_back", "failed"},
        timeout=60, what="the operator's rollout counters in Prometheus",
    )  # fmt: skip

    # The unwatched namespace's ModelDeployment was never touched (the operator has no rights there).
    assert status(testbed, unwatched, "iris") == {}, (
        f"the ModelDeployment in unwatched namespace {unwatched} got a status; the chart's operator "
        "has no rights there (see the namespaced RBAC test), so another cluster-wide operator is running"
    )
    assert (
        testbed.kubectl("get", "deployment", "iris-stable", "-n", unwatched, check=False).returncode
        != 0
    )
