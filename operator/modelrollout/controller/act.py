"""Carries out the brain's actions in order: applies the tracks' Deployments with the replicas the
router plans for the weight and the routing objects it asks for, creates or deletes the validation
Job, records events. Called by reconcile."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelrollout import api, rollout
from modelrollout.controller import observe, shadowing
from modelrollout.k8s import builders, client, names
from modelrollout.traffic import router as traffic_router

# Applied manifests carry the hash of what was applied, so an unchanged one is not sent again each turn.
HASH_ANNOTATION = f"{names.GROUP}/applied-hash"


@dataclass(frozen=True)
class Context:
    kube: client.Kube
    body: dict[str, Any]
    spec: api.ModelDeploymentSpec
    world: observe.World
    router: traffic_router.Router
    image: str
    now: datetime

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def owner(self) -> dict[str, Any]:
        return builders.owner_reference(name=self.name, uid=self.body["metadata"]["uid"])


def _hash(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


def _apply_if_changed(
    ctx: Context, manifest: dict[str, Any], current: dict[str, Any] | None
) -> None:
    digest = _hash(manifest)
    if (
        current is not None
        and (current["metadata"].get("annotations") or {}).get(HASH_ANNOTATION) == digest
    ):
        return
    manifest["metadata"].setdefault("annotations", {})[HASH_ANNOTATION] = digest
    ctx.kube.apply(manifest)


def plan_for(ctx: Context, weight: int) -> traffic_router.TrafficPlan:
    return ctx.router.plan(
        replicas=ctx.spec.serving.replicas,
        weight=weight,
        stable_ready=ctx.world.readiness.stable_ready,
        canary_ready=ctx.world.readiness.canary_ready,
    )


def carry_out(
    ctx: Context, actions: tuple[rollout.Action, ...], *, weight: int, mirror: int = 0
) -> None:
    """Applies actions; `weight` is the canary weight of the new status (what SetWeight asks for),
    `mirror` the percent of requests copied to it as a shadow (rollout.mirror_percent)."""
    plan = plan_for(ctx, weight)
    # The stable is never scaled away before promotion: it is what a rollback falls back on.
    sizes: dict[names.Track, int] = {
        "stable": max(plan.stable_replicas, 1),
        "canary": plan.canary_replicas,
    }
    if mirror > 0:
        sizes["canary"] = max(
            sizes["canary"],
            shadowing.replicas(serving_replicas=ctx.spec.serving.replicas, mirror=mirror),
        )
    ensured: set[names.Track] = set()
    _ensure_service(ctx, canary_serves=weight > 0 or ctx.router.name == "none")
    shadowing.ensure_service(ctx, mirror=mirror, apply_if_changed=_apply_if_changed)
    for action in actions:
        match action:
            case rollout.EnsureStable(model=model):
                _ensure_track(ctx, "stable", model, sizes["stable"])
                ensured.add("stable")
            case rollout.EnsureCanary(model=model):
                _ensure_track(ctx, "canary", model, sizes["canary"])
                ensured.add("canary")
            case rollout.SetWeight():
                _set_weight(ctx, plan, sizes=sizes, ensured=ensured)
            case rollout.DeleteCanary():
                ctx.kube.delete(
                    api_version="apps/v1",
                    kind="Deployment",
                    name=names.deployment(ctx.name, "canary"),
                    namespace=ctx.namespace,
                )
            case rollout.StartValidation(model=model, stable=stable):
                _start_validation(ctx, model, stable)
            case rollout.DeleteValidation(version=version):
                _delete_validation(ctx, version)
            case rollout.RecordEvent(reason=reason, message=message, type=type_):
                _event(ctx, reason=reason, message=message, type_=type_)


def _ensure_service(ctx: Context, *, canary_serves: bool) -> None:
    manifest = builders.service(
        md_name=ctx.name,
        namespace=ctx.namespace,
        owner=ctx.owner,
        port=ctx.spec.serving.port,
        canary_serves=canary_serves,
    )
    _apply_if_changed(ctx, manifest, ctx.world.service)


def _ensure_track(ctx: Context, track: names.Track, model: api.ModelSpec, replicas: int) -> None:
    current = ctx.world.stable if track == "stable" else ctx.world.canary
    manifest = builders.server_deployment(
        md_name=ctx.name,
        namespace=ctx.namespace,
        owner=ctx.owner,
        track=track,
        model=model,
        serving=ctx.spec.serving,
        replicas=replicas,
        default_image=ctx.image,
        mirror_percent=ctx.spec.rollout.mirror_percent,
        extra_args=builders.drift_args(ctx.spec),
    )
    _apply_if_changed(ctx, manifest, current)


def _set_weight(
    ctx: Context,
    plan: traffic_router.TrafficPlan,
    *,
    sizes: dict[names.Track, int],
    ensured: set[names.Track],
) -> None:
    """Moves replicas of a track this turn did not apply (e.g. a canary draining after an abort)."""
    deployments: dict[names.Track, dict[str, Any] | None] = {
        "stable": ctx.world.stable,
        "canary": ctx.world.canary,
    }
    for track, dep in deployments.items():
        replicas = sizes[track]
        if track in ensured or dep is None:
            continue
        if int((dep.get("spec") or {}).get("replicas") or 0) != replicas:
            ctx.kube.scale(
                api_version="apps/v1",
                kind="Deployment",
                name=dep["metadata"]["name"],
                namespace=ctx.namespace,
                replicas=replicas,
            )
    _route(ctx, plan)


def _route(ctx: Context, plan: traffic_router.TrafficPlan) -> None:
    """Keeps the per-track Services the router routes to, and writes its objects where they changed.

    Both work from what observe read this turn, so an unchanged Service or route costs no call."""
    target = ctx.world.target
    refs = ctx.router.objects_to_read(target)
    for track in ("stable", "canary"):
        manifest = builders.service(
            md_name=ctx.name,
            namespace=ctx.namespace,
            owner=ctx.owner,
            port=ctx.spec.serving.port,
            track=track,
        )
        ref = traffic_router.ObjectRef("v1", "Service", ctx.namespace, manifest["metadata"]["name"])
        if ref in refs:
            _apply_if_changed(ctx, manifest, ctx.world.routing.get(ref))
    current = ctx.world.routing
    for manifest in ctx.router.desired_objects(plan, target=target, current=current):
        ref = traffic_router.ObjectRef(
            manifest["apiVersion"],
            manifest["kind"],
            manifest["metadata"].get("namespace", ctx.namespace),
            manifest["metadata"]["name"],
        )
        if current.get(ref) != manifest:
            ctx.kube.replace(manifest)


def _start_validation(ctx: Context, model: api.ModelSpec, stable: api.ModelSpec | None) -> None:
    validation = ctx.spec.validation
    if validation is None:
        return
    manifest = builders.validation_job(
        md_name=ctx.name,
        namespace=ctx.namespace,
        owner=ctx.owner,
        generation=int(ctx.body["metadata"].get("generation") or 0),
        model=model,
        stable=stable,
        validation=validation,
        image=ctx.spec.serving.image or ctx.image,
        timeout_seconds=max(1, int(api.parse_duration(validation.timeout).total_seconds())),
    )
    # A Job's template is immutable: create it once, never re-apply over a running one.
    existing = ctx.kube.get(
        api_version="batch/v1",
        kind="Job",
        name=manifest["metadata"]["name"],
        namespace=ctx.namespace,
    )
    if existing is None:
        ctx.kube.apply(manifest)


def _delete_validation(ctx: Context, version: str) -> None:
    jobs = ctx.kube.list(
        api_version="batch/v1",
        kind="Job",
        namespace=ctx.namespace,
        label_selector=f"{names.LABEL_NAME}={ctx.name},{names.LABEL_ROLE}=validation,{names.LABEL_VERSION}={version}",
    )
    for job in jobs:
        ctx.kube.delete(
            api_version="batch/v1",
            kind="Job",
            name=job["metadata"]["name"],
            namespace=ctx.namespace,
        )


def _event(ctx: Context, *, reason: str, message: str, type_: str) -> None:
    ctx.kube.event(
        involved=ctx.body,
        reason=reason,
        message=message,
        type=type_,
        now=ctx.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
