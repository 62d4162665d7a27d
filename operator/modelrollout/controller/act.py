"""Carries out the orders of a turn: `writes_for` turns them into writes against what observe read,
with the values the orders carry; `execute` sends those writes and nothing else, so act never
reads the cluster and never plans. Called by reconcile."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

from modelrollout import api, rollout
from modelrollout.controller import autoscale, observe, orders, shadowing
from modelrollout.k8s import autoscaling, builders, client, names
from modelrollout.traffic import router as traffic_router

# Applied manifests carry the hash of what was applied, so an unchanged one is not sent again each turn.
HASH_ANNOTATION = f"{names.GROUP}/applied-hash"


@dataclass(frozen=True)
class Apply:
    """Server-side apply of a manifest this operator owns whole (field_manager: see autoscale)."""

    manifest: dict[str, Any]
    field_manager: str | None = None


@dataclass(frozen=True)
class Replace:
    """A full update of an object read this turn and shared with its owner (an HTTPRoute)."""

    manifest: dict[str, Any]


@dataclass(frozen=True)
class Scale:
    """Set a Deployment's replicas alone (a track this turn did not apply)."""

    name: str
    replicas: int


@dataclass(frozen=True)
class Delete:
    api_version: str
    kind: str
    name: str


@dataclass(frozen=True)
class Event:
    reason: api.Reason
    message: str
    type: Literal["Normal", "Warning"]


Write: TypeAlias = Apply | Replace | Scale | Delete | Event


@dataclass(frozen=True)
class Context:
    body: dict[str, Any]
    spec: api.ModelDeploymentSpec
    world: observe.World
    image: str

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def owner(self) -> dict[str, Any]:
        return builders.owner_reference(name=self.name, uid=self.body["metadata"]["uid"])


def _hash(manifest: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


def _if_changed(manifest: dict[str, Any], current: Mapping[str, Any] | None) -> Iterator[Write]:
    digest = _hash(manifest)
    if (
        current is not None
        and (current["metadata"].get("annotations") or {}).get(HASH_ANNOTATION) == digest
    ):
        return
    manifest["metadata"].setdefault("annotations", {})[HASH_ANNOTATION] = digest
    yield Apply(manifest)


def writes_for(
    ctx: Context,
    todo: tuple[orders.Order, ...],
    *,
    canary_serves: bool = True,
    mirror: int = 0,
) -> tuple[Write, ...]:
    """The writes that carry out the orders, in their order; unchanged objects are left out.

    Every value comes in the orders (replicas, routing objects): nothing here plans or sizes.
    Without `canary_serves` the client Service selects the stable alone; `mirror` is the percent
    of requests the stable copies to the canary as a shadow (rollout.mirror_percent)."""
    out: list[Write] = list(_service(ctx, canary_serves=canary_serves))
    out.extend(shadowing.service(ctx, mirror=mirror, if_changed=_if_changed))
    ran: set[names.Track] = set()
    out.extend(_autoscale(ctx))
    for order in todo:
        match order:
            case orders.RunTrack():
                out.extend(_track(ctx, order))
                ran.add(order.track)
            case orders.Route():
                out.extend(_route(ctx, order, ran=ran))
            case rollout.DeleteCanary():
                out.append(Delete("apps/v1", "Deployment", names.deployment(ctx.name, "canary")))
            case rollout.StartValidation(model=model, stable=stable):
                out.extend(_start_validation(ctx, model, stable))
            case rollout.DeleteValidation(version=version):
                out.extend(_delete_validation(ctx, version))
            case rollout.RecordEvent(reason=reason, message=message, type=type_):
                out.append(Event(reason=reason, message=message, type=type_))
    return tuple(out)


def execute(
    kube: client.Kube, writes: Iterable[Write], *, involved: Mapping[str, Any], now: datetime
) -> None:
    """Sends the writes in order. Only writes: everything they depend on was read by observe."""
    namespace = str(involved["metadata"]["namespace"])
    for write in writes:
        match write:
            case Apply(manifest=manifest, field_manager=manager):
                kube.apply(manifest, field_manager=manager)
            case Replace(manifest=manifest):
                kube.replace(manifest)
            case Scale(name=name, replicas=replicas):
                kube.scale(
                    api_version="apps/v1",
                    kind="Deployment",
                    name=name,
                    namespace=namespace,
                    replicas=replicas,
                )
            case Delete(api_version=api_version, kind=kind, name=name):
                kube.delete(api_version=api_version, kind=kind, name=name, namespace=namespace)
            case Event(reason=reason, message=message, type=type_):
                kube.event(
                    involved=involved,
                    reason=reason.value,
                    message=message,
                    type=type_,
                    now=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                )


def _autoscale(ctx: Context) -> Iterator[Write]:
    """The stable's HPA as spec.serving.autoscaling says, and the replicas' handover to it."""
    serving, stable = ctx.spec.serving, ctx.world.stable
    if serving.autoscaling is None:
        if autoscale.has_hpa(stable):
            yield Delete(
                autoscaling.API_VERSION, "HorizontalPodAutoscaler", autoscaling.hpa_name(ctx.name)
            )
        return
    yield from _if_changed(
        autoscaling.hpa(
            md_name=ctx.name,
            namespace=ctx.namespace,
            owner=ctx.owner,
            autoscaling=serving.autoscaling,
        ),
        ctx.world.hpa,
    )
    if (handover := autoscale.handover(stable, namespace=ctx.namespace)) is not None:
        yield Apply(handover, field_manager=autoscale.HANDOVER_MANAGER)


def _service(ctx: Context, *, canary_serves: bool) -> Iterator[Write]:
    manifest = _service_manifest(ctx, canary_serves=canary_serves)
    yield from _if_changed(manifest, ctx.world.service)


def _service_manifest(ctx: Context, **shape: Any) -> dict[str, Any]:
    """The ModelDeployment's Service (client-facing, or one track's with `track=`)."""
    return builders.service(
        md_name=ctx.name,
        namespace=ctx.namespace,
        owner=ctx.owner,
        port=ctx.spec.serving.port,
        grpc_port=ctx.spec.serving.grpc_port,
        **shape,
    )


def _track(ctx: Context, order: orders.RunTrack) -> Iterator[Write]:
    track = order.track
    current = ctx.world.stable if track == "stable" else ctx.world.canary
    serving = ctx.spec.serving
    manifest = builders.server_deployment(
        md_name=ctx.name,
        namespace=ctx.namespace,
        owner=ctx.owner,
        track=track,
        model=order.model,
        serving=serving,
        replicas=order.replicas,
        default_image=ctx.image,
        mirror_percent=order.server_mirror,
        extra_args=builders.drift_args(ctx.spec),
    )
    if track == "stable":
        autoscale.mark(manifest, serving)
    yield from _if_changed(manifest, current)


def _route(ctx: Context, route: orders.Route, *, ran: set[names.Track]) -> Iterator[Write]:
    """Moves replicas of a track this turn did not run (e.g. a canary draining after an abort),
    then keeps the router's Services and writes its objects where they changed."""
    sizes: dict[names.Track, int | None] = {
        "stable": route.stable_replicas,
        "canary": route.canary_replicas,
    }
    deployments: dict[names.Track, dict[str, Any] | None] = {
        "stable": ctx.world.stable,
        "canary": ctx.world.canary,
    }
    for track, dep in deployments.items():
        size = sizes[track]
        if track in ran or dep is None or size is None:
            continue
        if int((dep.get("spec") or {}).get("replicas") or 0) != size:
            yield Scale(name=dep["metadata"]["name"], replicas=size)
    current = ctx.world.routing
    for track in route.services:
        manifest = _service_manifest(ctx, track=track)
        ref = traffic_router.ObjectRef("v1", "Service", ctx.namespace, manifest["metadata"]["name"])
        yield from _if_changed(manifest, current.get(ref))
    for manifest in route.objects:
        ref = traffic_router.ObjectRef(
            manifest["apiVersion"],
            manifest["kind"],
            manifest["metadata"].get("namespace", ctx.namespace),
            manifest["metadata"]["name"],
        )
        if current.get(ref) != manifest:
            yield Replace(manifest)


def _start_validation(
    ctx: Context, model: api.ModelSpec, stable: api.ModelSpec | None
) -> Iterator[Write]:
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
    existing = {j["metadata"]["name"] for j in ctx.world.validation_jobs}
    if manifest["metadata"]["name"] not in existing:
        yield Apply(manifest)


def _delete_validation(ctx: Context, version: str) -> Iterator[Write]:
    for job in ctx.world.validation_jobs:
        if (job["metadata"].get("labels") or {}).get(names.LABEL_VERSION) == version:
            yield Delete("batch/v1", "Job", job["metadata"]["name"])
