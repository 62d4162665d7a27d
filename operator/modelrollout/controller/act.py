"""Carries out the brain's actions: `plan` turns them into writes, from what observe read and one
router plan; `execute` sends those writes and nothing else, so act never reads the cluster.
Called by reconcile."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

from modelrollout import api, rollout
from modelrollout.controller import autoscale, observe, shadowing
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
    router: traffic_router.Router
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


def weight_of(actions: Iterable[rollout.Action]) -> int | None:
    """The canary weight the brain asked for this turn (its SetWeight), if it asked for one."""
    return next((a.weight for a in actions if isinstance(a, rollout.SetWeight)), None)


def plan(
    ctx: Context,
    actions: tuple[rollout.Action, ...],
    *,
    canary_serves: bool = True,
    mirror: int = 0,
) -> tuple[Write, ...]:
    """The writes that carry out `actions`, in their order; unchanged objects are left out.

    The router plans once, for the weight the brain's SetWeight carries: the replicas of both
    tracks and the routing objects all come from that one plan. Without `canary_serves` (its
    weight in the new status is 0) the client Service selects the stable alone; `mirror` is the
    percent of requests the stable copies to the canary as a shadow (rollout.mirror_percent)."""
    weight = weight_of(actions)
    traffic = None
    if weight is not None:
        readiness = ctx.world.readiness
        traffic = ctx.router.plan(
            replicas=autoscaling.capacity(ctx.spec.serving, ctx.world.stable),
            weight=weight,
            stable_ready=readiness.stable_ready,
            canary_ready=readiness.canary_ready,
        )
    if traffic is not None and mirror > 0:
        # A shadow gets pods for its share of the load though its weight is 0.
        shadow_size = shadowing.replicas(
            serving_replicas=autoscaling.capacity(ctx.spec.serving, ctx.world.stable), mirror=mirror
        )
        traffic = dataclasses.replace(
            traffic,
            canary_replicas=max(traffic.canary_replicas, shadow_size),
            mirror_percent=mirror,
        )
    out: list[Write] = list(_service(ctx, canary_serves=canary_serves or ctx.router.name == "none"))
    out.extend(shadowing.service(ctx, mirror=mirror, if_changed=_if_changed))
    ensured: set[names.Track] = set()
    out.extend(_autoscale(ctx))
    for action in actions:
        match action:
            case rollout.EnsureStable(model=model) | rollout.EnsureCanary(model=model):
                track: names.Track = (
                    "stable" if isinstance(action, rollout.EnsureStable) else "canary"
                )
                out.extend(_track(ctx, track, model, _replicas(traffic, track, action)))
                ensured.add(track)
            case rollout.SetWeight():
                assert traffic is not None  # planned above for this very action
                out.extend(_set_weight(ctx, traffic, ensured=ensured))
            case rollout.DeleteCanary():
                out.append(Delete("apps/v1", "Deployment", names.deployment(ctx.name, "canary")))
            case rollout.StartValidation(model=model, stable=stable):
                out.extend(_start_validation(ctx, model, stable))
            case rollout.DeleteValidation(version=version):
                out.extend(_delete_validation(ctx, version))
            case rollout.RecordEvent(reason=reason, message=message, type=type_):
                out.append(Event(reason=reason, message=message, type=type_))
    return tuple(out)


def _replicas(
    traffic: traffic_router.TrafficPlan | None, track: names.Track, action: rollout.Action
) -> int:
    if traffic is None:
        raise ValueError(f"{action} came without a SetWeight: the replicas follow from its weight")
    return traffic.stable_replicas if track == "stable" else traffic.canary_replicas


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


def _track(
    ctx: Context, track: names.Track, model: api.ModelSpec, replicas: int
) -> Iterator[Write]:
    current = ctx.world.stable if track == "stable" else ctx.world.canary
    serving = ctx.spec.serving
    manifest = builders.server_deployment(
        md_name=ctx.name,
        namespace=ctx.namespace,
        owner=ctx.owner,
        track=track,
        model=model,
        serving=serving,
        replicas=(
            autoscale.stable_replicas(serving, current, replicas) if track == "stable" else replicas
        ),
        default_image=ctx.image,
        # A router that mirrors (a Gateway's RequestMirror) copies the requests: not the stable too.
        mirror_percent=0 if ctx.router.mirrors else ctx.spec.rollout.mirror_percent,
        extra_args=builders.drift_args(ctx.spec),
    )
    if track == "stable":
        autoscale.mark(manifest, serving)
    yield from _if_changed(manifest, current)


def _set_weight(
    ctx: Context, traffic: traffic_router.TrafficPlan, *, ensured: set[names.Track]
) -> Iterator[Write]:
    """Moves replicas of a track this turn did not apply (e.g. a canary draining after an abort),
    then keeps the router's Services and writes its objects where they changed."""
    sizes: dict[names.Track, int] = {
        "stable": traffic.stable_replicas,
        "canary": traffic.canary_replicas,
    }
    deployments: dict[names.Track, dict[str, Any] | None] = {
        "stable": ctx.world.stable,
        "canary": ctx.world.canary,
    }
    for track, dep in deployments.items():
        if track in ensured or dep is None:
            continue
        if track == "stable" and ctx.spec.serving.autoscaling is not None:
            continue  # the HPA owns the stable's replicas: never fight it
        if int((dep.get("spec") or {}).get("replicas") or 0) != sizes[track]:
            yield Scale(name=dep["metadata"]["name"], replicas=sizes[track])
    target, current = ctx.world.target, ctx.world.routing
    refs = ctx.router.objects_to_read(target)
    for track in ("stable", "canary"):
        manifest = _service_manifest(ctx, track=track)
        ref = traffic_router.ObjectRef("v1", "Service", ctx.namespace, manifest["metadata"]["name"])
        if ref in refs:
            yield from _if_changed(manifest, current.get(ref))
    for manifest in ctx.router.desired_objects(traffic, target=target, current=current):
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
