"""Pure builders: a ModelDeployment's spec in, the manifests of its Deployments, Services and validation Job out.

No I/O; the controller applies what these return with server-side apply.
"""

from __future__ import annotations

import json
from typing import Any

from modelrollout import api
from modelrollout.k8s import names

SERVER_CONTAINER = "server"
PVC_ROOT = "/mnt/pvc"
# Scraped by any Prometheus that honours the common pod annotations (the test bed's and the chart's do).
SCRAPE_ANNOTATIONS = {"prometheus.io/scrape": "true", "prometheus.io/path": "/metrics"}
# Validation reads this back from the pod status; Kubernetes keeps at most 4096 bytes of it.
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
# The root filesystem is read-only; scratch space is an emptyDir here (a path inside the pod).
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108
# Longer than endpoint propagation to kube-proxy and gateways usually takes; well within the grace period.
PRE_STOP_SECONDS = 3

Manifest = dict[str, Any]


def owner_reference(*, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _meta(
    *, name: str, namespace: str, owner: dict[str, Any], labels: dict[str, str]
) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]}


def _pvc_claims(*uris: str | None) -> list[str]:
    claims: list[str] = []
    for uri in uris:
        if uri and uri.startswith("pvc://"):
            claim = uri[len("pvc://") :].split("/", 1)[0]
            if claim not in claims:
                claims.append(claim)
    return claims


def _pvc_volumes(claims: list[str]) -> tuple[list[Manifest], list[Manifest]]:
    volumes = [
        {"name": f"pvc-{i}", "persistentVolumeClaim": {"claimName": c, "readOnly": True}}
        for i, c in enumerate(claims)
    ]
    mounts = [
        {"name": f"pvc-{i}", "mountPath": f"{PVC_ROOT}/{c}", "readOnly": True}
        for i, c in enumerate(claims)
    ]
    return volumes, mounts


_DOWNWARD_ENV = [
    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
]


def _probe(path: str, port: int, tuning: api.ProbeTuning | None, *, period: int) -> Manifest:
    probe: Manifest = {"httpGet": {"path": path, "port": port}, "periodSeconds": period}
    if tuning is not None:
        probe.update(tuning.model_dump(by_alias=True, exclude_none=True))
    return probe


def _security_context() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def server_deployment(
    *,
    md_name: str,
    namespace: str,
    owner: dict[str, Any],
    track: names.Track,
    model: api.ModelSpec,
    serving: api.ServingSpec,
    replicas: int | None,
    default_image: str,
    mirror_percent: int = 0,
    extra_args: tuple[str, ...] = (),
) -> Manifest:
    """The Deployment of one track, serving `model`. Rolling updates never drop ready capacity.

    replicas None leaves the count out of the manifest: an HPA owns it (spec.serving.autoscaling).
    With `mirror_percent` (the rollout has a shadow step) the stable's pods copy requests to the
    shadow Service, and the canary's ask for that percent of them while it is behind it."""
    port = serving.port
    labels = names.pod_labels(md_name, track=track, version=model.version)
    args = [
        "serve",
        f"--model-uri={model.uri}",
        f"--model-name={model.name}",
        f"--model-version={model.version}",
        f"--format={model.format}",
        "--host=$(POD_IP)",
        f"--port={port}",
        f"--grpc-port={serving.grpc_port}",
        f"--workers={serving.workers}",
        f"--track={track}",
        "--namespace=$(POD_NAMESPACE)",
    ]
    args.extend(extra_args)
    if model.sha256:
        args.append(f"--sha256={model.sha256}")
    if model.allow_unsafe_pickle:
        args.append("--allow-unsafe-pickle")
    volumes, mounts = _pvc_volumes(_pvc_claims(model.uri))
    container: Manifest = {
        "name": SERVER_CONTAINER,
        "image": serving.image or default_image,
        "args": args,
        "ports": [
            {"name": "http", "containerPort": port, "protocol": "TCP"},
            {"name": "grpc", "containerPort": serving.grpc_port, "protocol": "TCP"},
        ],
        "env": [
            *_DOWNWARD_ENV,
            {"name": "MODEL_ROLLOUT_PVC_ROOT", "value": PVC_ROOT},
            *_shadow_env(
                md_name,
                track=track,
                port=port,
                mirror_percent=mirror_percent,
                given={e.name for e in serving.env},
            ),
            *[e.model_dump(by_alias=True, exclude_none=True) for e in serving.env],
            *_feedback_token_env(serving.feedback_auth),
        ],
        "readinessProbe": _probe("/v2/health/ready", port, serving.readiness_probe, period=2),
        "livenessProbe": _probe("/v2/health/live", port, serving.liveness_probe, period=10),
        "securityContext": _security_context(),
        "volumeMounts": [*mounts, TMP_MOUNT],
        # Endpoints are removed while this sleeps, so no new request reaches a server that is stopping.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
    }
    if serving.image_pull_policy:
        container["imagePullPolicy"] = serving.image_pull_policy
    if serving.resources is not None:
        container["resources"] = serving.resources.model_dump(by_alias=True, exclude_none=True)
    pod_spec: Manifest = {
        "containers": [container],
        "volumes": [*volumes, {"name": "tmp", "emptyDir": {}}],
        "terminationGracePeriodSeconds": 30,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    if serving.service_account_name:
        pod_spec["serviceAccountName"] = serving.service_account_name
    if serving.node_selector:
        pod_spec["nodeSelector"] = dict(serving.node_selector)
    annotations = {**SCRAPE_ANNOTATIONS, "prometheus.io/port": str(port)}
    annotations.update(serving.pod_annotations or {})
    manifest: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(
            name=names.deployment(md_name, track),
            namespace=namespace,
            owner=owner,
            labels={**names.selector(md_name, track), names.LABEL_VERSION: model.version},
        ),
        "spec": {
            "replicas": replicas,
            # Each track is its own Deployment and a rollback moves traffic, never a revision:
            # old ReplicaSets at zero would only pile up (10 per Deployment by default).
            "revisionHistoryLimit": 0,
            "selector": {"matchLabels": names.selector(md_name, track)},
            # Surge only: a rolling update adds a ready pod before it removes one.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": {**(serving.pod_labels or {}), **labels},
                    "annotations": annotations,
                },
                "spec": pod_spec,
            },
        },
    }
    if replicas is None:
        del manifest["spec"]["replicas"]
    return manifest


def drift_args(spec: api.ModelDeploymentSpec) -> tuple[str, ...]:
    """Server flags that bin live inputs against the reference dataset, when drift is monitored."""
    monitoring, validation = spec.monitoring, spec.validation
    if monitoring is None or monitoring.drift is None or validation is None:
        return ()
    ref = validation.reference_dataset
    uri, fmt, target = (
        (ref.uri, ref.format, ref.target or validation.dataset.target)
        if ref is not None
        else (validation.dataset.uri, validation.dataset.format, validation.dataset.target)
    )
    return (
        f"--reference-uri={uri}",
        f"--reference-format={fmt}",
        f"--reference-target={target}",
        f"--drift-bins={monitoring.drift.bins}",
    )


def _shadow_env(
    md_name: str, *, track: names.Track, port: int, mirror_percent: int, given: set[str]
) -> list[Manifest]:
    if mirror_percent <= 0:
        return []
    if track == "canary":
        entry = {"name": "MODEL_ROLLOUT_MIRROR_PERCENT", "value": str(mirror_percent)}
    else:
        url = f"http://{names.shadow_service(md_name)}.$(POD_NAMESPACE).svc:{port}"
        entry = {"name": "MODEL_ROLLOUT_SHADOW_URL", "value": url}
    # spec.serving.env may set it (to reach the shadow another way); an env name appears once.
    return [] if entry["name"] in given else [entry]


def _feedback_token_env(auth: api.SecretKey | None) -> list[Manifest]:
    if auth is None:
        return []
    # An env var, not an argument: arguments are visible to anyone who can list the processes.
    ref = {"name": auth.secret_name, "key": auth.key}
    return [{"name": api.FEEDBACK_TOKEN_ENV, "valueFrom": {"secretKeyRef": ref}}]


def service(
    *,
    md_name: str,
    namespace: str,
    owner: dict[str, Any],
    port: int,
    grpc_port: int,
    track: names.Track | None = None,
    canary_serves: bool = True,
) -> Manifest:
    """The Service in front of both tracks (track=None), or of one track for a Gateway API router.

    Without `canary_serves` (its weight is 0, e.g. while it is a shadow) the Service in front of
    both tracks selects the stable's pods only, so no client is answered by the canary."""
    selector = names.selector(md_name, track)
    if track is None and not canary_serves:
        selector = names.selector(md_name, "stable")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(
            name=names.service(md_name, track),
            namespace=namespace,
            owner=owner,
            labels=names.selector(md_name, track),
        ),
        "spec": {
            "selector": selector,
            "ports": [
                {"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"},
                # appProtocol tells Gateway API implementations and meshes to speak HTTP/2 to it.
                {
                    "name": "grpc",
                    "port": grpc_port,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                },
            ],
        },
    }


def shadow_service(
    *, md_name: str, namespace: str, owner: dict[str, Any], port: int, active: bool
) -> Manifest:
    """The Service the stable copies requests to: the canary's pods during a shadow step, else none."""
    selector = {
        **names.selector(md_name),
        names.LABEL_TRACK: "canary" if active else names.NO_TRACK,
    }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(
            name=names.shadow_service(md_name),
            namespace=namespace,
            owner=owner,
            labels=names.selector(md_name),
        ),
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def validation_job(
    *,
    md_name: str,
    namespace: str,
    owner: dict[str, Any],
    generation: int,
    model: api.ModelSpec,
    stable: api.ModelSpec | None,
    validation: api.ValidationSpec,
    image: str,
    timeout_seconds: int,
) -> Manifest:
    """The Job that runs `model-rollout validate` once, and reports through its termination message."""
    document = {
        "model": model.model_dump(by_alias=True, exclude_none=True),
        "stable": None if stable is None else stable.model_dump(by_alias=True, exclude_none=True),
        "validation": validation.model_dump(by_alias=True, exclude_none=True),
    }
    ref = validation.reference_dataset
    claims = _pvc_claims(
        model.uri,
        None if stable is None else stable.uri,
        validation.dataset.uri,
        None if ref is None else ref.uri,
    )
    volumes, mounts = _pvc_volumes(claims)
    labels = {
        **names.selector(md_name),
        names.LABEL_ROLE: "validation",
        names.LABEL_VERSION: model.version,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(
            name=names.validation_job(md_name, model.version, generation),
            namespace=namespace,
            owner=owner,
            labels=labels,
        ),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout_seconds,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "validate",
                            "image": image,
                            "args": [
                                "validate",
                                f"--termination-message-path={TERMINATION_MESSAGE_PATH}",
                            ],
                            "env": [
                                *_DOWNWARD_ENV,
                                {"name": "MODEL_ROLLOUT_PVC_ROOT", "value": PVC_ROOT},
                                {
                                    "name": "MODEL_ROLLOUT_VALIDATION_SPEC",
                                    "value": json.dumps(document, sort_keys=True),
                                },
                            ],
                            "terminationMessagePath": TERMINATION_MESSAGE_PATH,
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "securityContext": _security_context(),
                            "volumeMounts": [*mounts, TMP_MOUNT],
                        }
                    ],
                    "volumes": [*volumes, {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }
