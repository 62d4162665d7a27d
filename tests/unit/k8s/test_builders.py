"""The builders turn a spec into the manifests the operator applies; pure, so tested as tables."""

from __future__ import annotations

import json

import pytest

from modelrollout import api
from modelrollout.k8s import builders, names

pytestmark = pytest.mark.unit

OWNER = builders.owner_reference(name="iris", uid="u-1")


def _model(**over: object) -> api.ModelSpec:
    fields: dict[str, object] = {
        "name": "iris",
        "version": "2",
        "uri": "file:///models/iris-2.skops",
    }
    fields.update(over)
    return api.ModelSpec.model_validate(fields)


def _deployment(track: names.Track = "canary", **model_over: object) -> dict[str, object]:
    return builders.server_deployment(
        md_name="iris",
        namespace="ml",
        owner=OWNER,
        track=track,
        model=_model(**model_over),
        serving=api.ServingSpec(replicas=4, port=9000),
        replicas=2,
        default_image="ghcr.io/acme/model-rollout:0.1.0",
    )


def test_server_deployment_labels_pods_with_the_naming_contract() -> None:
    dep = _deployment()
    labels = dep["spec"]["template"]["metadata"]["labels"]  # type: ignore[index]
    assert labels == {
        "app.kubernetes.io/name": "iris",
        "app.kubernetes.io/managed-by": "model-rollout",
        "modelrollout.io/track": "canary",
        "modelrollout.io/version": "2",
    }
    # The selector leaves the version out: it is immutable, and a promotion changes the version.
    assert "modelrollout.io/version" not in dep["spec"]["selector"]["matchLabels"]  # type: ignore[index]


def test_server_deployment_binds_the_pod_ip_and_passes_the_model() -> None:
    dep = _deployment(sha256="a" * 64, format="joblib", allowUnsafePickle=True)
    container = dep["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    args = container["args"]
    assert args[0] == "serve"
    assert "--host=$(POD_IP)" in args
    assert "--track=canary" in args
    assert f"--sha256={'a' * 64}" in args
    assert "--allow-unsafe-pickle" in args
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 9000}
    assert container["image"] == "ghcr.io/acme/model-rollout:0.1.0"


def test_the_server_serves_grpc_on_a_named_port_that_the_service_exposes() -> None:
    container = _deployment()["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert "--grpc-port=8081" in container["args"]
    assert {"name": "grpc", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    svc = builders.service(md_name="iris", namespace="ml", owner=OWNER, port=9000, grpc_port=9001)
    assert [(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
        ("http", 9000, "http"),
        ("grpc", 9001, "grpc"),
    ]
    assert svc["spec"]["ports"][1]["appProtocol"] == "kubernetes.io/h2c"


def test_server_deployment_never_drops_ready_capacity_during_a_rolling_update() -> None:
    strategy = _deployment("stable")["spec"]["strategy"]  # type: ignore[index]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_pods_ask_to_be_scraped_on_the_serving_port() -> None:
    ann = _deployment()["spec"]["template"]["metadata"]["annotations"]  # type: ignore[index]
    assert ann["prometheus.io/scrape"] == "true"
    assert ann["prometheus.io/port"] == "9000"


def test_a_pvc_model_uri_mounts_its_claim_read_only() -> None:
    spec = _deployment(uri="pvc://models/iris/2/model.skops")["spec"]["template"]["spec"]  # type: ignore[index]
    assert {
        "name": "pvc-0",
        "persistentVolumeClaim": {"claimName": "models", "readOnly": True},
    } in spec["volumes"]
    mount = spec["containers"][0]["volumeMounts"][0]
    assert mount == {"name": "pvc-0", "mountPath": "/mnt/pvc/models", "readOnly": True}


def test_the_service_selects_both_tracks_and_a_track_service_only_its_own() -> None:
    both = builders.service(md_name="iris", namespace="ml", owner=OWNER, port=8080, grpc_port=8081)
    canary = builders.service(
        md_name="iris", namespace="ml", owner=OWNER, port=8080, grpc_port=8081, track="canary"
    )
    assert "modelrollout.io/track" not in both["spec"]["selector"]
    assert canary["spec"]["selector"]["modelrollout.io/track"] == "canary"
    assert canary["metadata"]["name"] == "iris-canary"


def test_the_validation_job_runs_once_within_its_deadline_and_carries_the_spec() -> None:
    validation = api.ValidationSpec.model_validate(
        {"dataset": {"uri": "pvc://data/iris.csv", "target": "species"}, "timeout": "2m"}
    )
    job = builders.validation_job(
        md_name="iris",
        namespace="ml",
        owner=OWNER,
        generation=3,
        model=_model(),
        stable=_model(version="1", uri="file:///models/iris-1.skops"),
        validation=validation,
        image="model-rollout:dev",
        timeout_seconds=120,
    )
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 120
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    doc = json.loads(
        next(e["value"] for e in container["env"] if e["name"] == "MODEL_ROLLOUT_VALIDATION_SPEC")
    )
    assert doc["model"]["version"] == "2"
    assert doc["stable"]["version"] == "1"
    assert doc["validation"]["dataset"]["target"] == "species"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "data"


@pytest.mark.parametrize(
    ("version", "generation"),
    [("2", 1), ("2", 2), ("a-very-long-version-string-that-goes-on-and-on-and-on-forever", 7)],
)
def test_validation_job_names_are_valid_and_differ_by_generation(
    version: str, generation: int
) -> None:
    name = names.validation_job("iris", version, generation)
    assert len(name) <= 63
    assert name == name.lower()
    assert name != names.validation_job("iris", version, generation + 1)
