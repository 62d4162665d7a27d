"""Reads what the brain needs from the cluster: the two tracks' Deployments, the objects the router
names and the weight it reads on them, the validation Job and its verdict, manual requests in
annotations. Called by reconcile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from modelrollout import api, rollout
from modelrollout.k8s import autoscaling, client, names
from modelrollout.traffic import router as traffic_router

ANNOTATION_PREFIX = f"{names.GROUP}/"


@dataclass(frozen=True)
class World:
    """Raw objects read this turn: the brain's observation is made from them, and act writes against
    them, so nothing is read twice and an unchanged object is never written."""

    stable: dict[str, Any] | None
    canary: dict[str, Any] | None
    service: dict[str, Any] | None
    target: traffic_router.Target
    routing: Mapping[traffic_router.ObjectRef, dict[str, Any]]
    """The router's objects_to_read that exist, as read this turn."""
    readiness: traffic_router.Readiness
    validation_jobs: tuple[dict[str, Any], ...] = ()
    """This ModelDeployment's validation Jobs, when a rollout is under way (else not read)."""
    validation_pods: tuple[dict[str, Any], ...] = ()
    """The pods of the newest Job of the version being validated, whose verdict they carry."""
    shadow_service: dict[str, Any] | None = None
    """The Service the stable copies requests to (read for a rollout with a shadow step)."""
    hpa: dict[str, Any] | None = None
    """The stable's HorizontalPodAutoscaler, read only while spec.serving.autoscaling is set."""
    canary_pods: tuple[dict[str, Any], ...] = ()
    """The canary's pods, read while its Deployment exists, for containers that died."""


def _ready(dep: dict[str, Any] | None) -> int:
    return int(((dep or {}).get("status") or {}).get("readyReplicas") or 0)


def deaths(pods: tuple[dict[str, Any], ...]) -> tuple[rollout.ContainerDeath, ...]:
    """Containers of these pods that ended, now or before their last restart, as the kubelet says."""
    found = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue  # stopping on purpose
        for c in (pod.get("status") or {}).get("containerStatuses") or []:
            state, last = c.get("state") or {}, c.get("lastState") or {}
            ended = state.get("terminated") or last.get("terminated")
            if not ended:
                continue
            found.append(
                rollout.ContainerDeath(
                    pod=meta.get("name", "?"),
                    container=c.get("name", "?"),
                    version=(meta.get("labels") or {}).get(names.LABEL_VERSION),
                    reason=ended.get("reason") or "Error",
                    exit_code=int(ended.get("exitCode") or 0),
                    restarts=int(c.get("restartCount") or 0),
                    crash_looping=(state.get("waiting") or {}).get("reason") == "CrashLoopBackOff",
                )
            )
    return tuple(found)


def workload(
    dep: dict[str, Any] | None, pods: tuple[dict[str, Any], ...] = ()
) -> rollout.Workload | None:
    if dep is None:
        return None
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    # Until the Deployment controller has seen this generation, its counts describe the old template.
    current = (status.get("observedGeneration") or 0) >= (dep["metadata"].get("generation") or 0)
    updated = int(status.get("updatedReplicas") or 0) if current else 0
    # readyReplicas counts the old ReplicaSet's pods too; while any remain, take them to be the ready
    # ones, so a track is rolled out only once no pod of the old version is left to answer.
    old_pods = max(0, int(status.get("replicas") or 0) - updated)
    return rollout.Workload(
        version=labels.get(names.LABEL_VERSION),
        replicas=int(spec.get("replicas") or 0),
        ready=max(0, _ready(dep) - old_pods),
        updated=updated,
        deaths=deaths(pods),
    )


def requests(annotations: dict[str, str]) -> tuple[rollout.ManualRequest, ...]:
    found = []
    for kind in rollout.Request:
        token = annotations.get(ANNOTATION_PREFIX + kind.value)
        if token:
            found.append(rollout.ManualRequest(kind=kind, token=token))
    return tuple(found)


def validation(world: World, *, version: str) -> rollout.ValidationResult | None:
    """The newest validation Job of `version` and its verdict, from what read_world read."""
    jobs = [j for j in world.validation_jobs if _labels(j).get(names.LABEL_VERSION) == version]
    if not jobs:
        return None
    job = _newest(jobs)
    status = job.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    verdict = _verdict(world.validation_pods)
    metrics = {
        k: float(v)
        for k, v in (verdict.metrics if verdict else {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    message = verdict.message if verdict else ""
    if status.get("succeeded"):
        return rollout.ValidationResult(
            version=version, state="passed", message=message, metrics=metrics
        )
    failed = conditions.get("Failed")
    if status.get("failed") or (failed and failed.get("status") == "True"):
        if not message and failed is not None:
            reason = failed.get("reason") or "Failed"
            message = f"validation Job {job['metadata']['name']} failed ({reason}): {failed.get('message') or ''}".strip()
        return rollout.ValidationResult(
            version=version, state="failed", message=message, metrics=metrics
        )
    return rollout.ValidationResult(version=version, state="running")


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return obj["metadata"].get("labels") or {}


def _newest(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return max(objs, key=lambda o: o["metadata"].get("creationTimestamp") or "")


def _verdict(pods: tuple[dict[str, Any], ...]) -> api.ValidationVerdict | None:
    for pod in sorted(
        pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True
    ):
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (cs.get("state") or {}).get("terminated") or {}
            text = terminated.get("message")
            if not text:
                continue
            try:
                return api.ValidationVerdict.model_validate_json(text)
            except pydantic.ValidationError:
                # FallbackToLogsOnError: the last log lines, when the validator could not even start.
                return api.ValidationVerdict.from_logs(text)
    return None


def target(*, md_name: str, namespace: str, port: int) -> traffic_router.Target:
    """Where a router sends traffic: the per-track Services the controller names for `md_name`."""
    return traffic_router.Target(
        namespace=namespace,
        stable_service=names.service(md_name, "stable"),
        canary_service=names.service(md_name, "canary"),
        port=port,
        shadow_service=names.shadow_service(md_name),
    )


def read_world(
    kube: client.Kube,
    *,
    md_name: str,
    namespace: str,
    router: traffic_router.Router,
    port: int,
    validating: str | None = None,
    validations: bool = False,
    autoscaled: bool = False,
) -> World:
    """Everything a turn needs from the cluster, read once, before anything is decided.

    `validations` lists the ModelDeployment's validation Jobs (a version is being rolled out, so the
    brain may look at one or delete some); `validating` also reads the pods of that version's
    newest Job, whose termination message carries the verdict. `autoscaled` reads the stable's HPA."""

    def get(kind: str, api_version: str, name: str) -> dict[str, Any] | None:
        return kube.get(api_version=api_version, kind=kind, name=name, namespace=namespace)

    stable = get("Deployment", "apps/v1", names.deployment(md_name, "stable"))
    canary = get("Deployment", "apps/v1", names.deployment(md_name, "canary"))
    service = get("Service", "v1", names.service(md_name))
    shadow_service = get("Service", "v1", names.shadow_service(md_name))
    where = target(md_name=md_name, namespace=namespace, port=port)
    # Read once here, so the weight the router sees and the objects act rewrites are the same.
    routing = {
        ref: obj
        for ref in router.objects_to_read(where)
        if (
            obj := kube.get(
                api_version=ref.api_version, kind=ref.kind, name=ref.name, namespace=ref.namespace
            )
        )
        is not None
    }
    jobs: tuple[dict[str, Any], ...] = ()
    pods: tuple[dict[str, Any], ...] = ()
    if validations or validating is not None:
        jobs = tuple(
            kube.list(
                api_version="batch/v1",
                kind="Job",
                namespace=namespace,
                label_selector=f"{names.LABEL_NAME}={md_name},{names.LABEL_ROLE}=validation",
            )
        )
    of_version = [j for j in jobs if _labels(j).get(names.LABEL_VERSION) == validating]
    if of_version:
        pods = tuple(
            kube.list(
                api_version="v1",
                kind="Pod",
                namespace=namespace,
                label_selector=f"job-name={_newest(of_version)['metadata']['name']}",
            )
        )
    canary_pods = (
        ()
        if canary is None
        else tuple(
            kube.list(
                api_version="v1",
                kind="Pod",
                namespace=namespace,
                label_selector=f"{names.LABEL_NAME}={md_name},{names.LABEL_TRACK}=canary",
            )
        )
    )
    hpa = (
        get("HorizontalPodAutoscaler", autoscaling.API_VERSION, autoscaling.hpa_name(md_name))
        if autoscaled
        else None
    )
    return World(
        stable=stable,
        canary=canary,
        service=service,
        shadow_service=shadow_service,
        target=where,
        routing=routing,
        readiness=traffic_router.Readiness(
            stable_ready=_ready(stable),
            canary_ready=_ready(canary),
            canary_route_weight=router.observed_weight(target=where, current=routing),
        ),
        validation_jobs=jobs,
        validation_pods=pods,
        hpa=hpa,
        canary_pods=canary_pods,
    )
