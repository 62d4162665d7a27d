"""One turn for one ModelDeployment: parse, observe, decide, act, write status once.

Synchronous (the kubernetes client is); the kopf daemon runs it in a worker thread and sleeps for
as long as the brain says before the next turn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pydantic

from modelrollout import api, rollout
from modelrollout.controller import act, monitoring, observe, orders, sourcing
from modelrollout.controller.observability import OperatorMetrics
from modelrollout.controller.settings import MIN_DELAY, Settings
from modelrollout.k8s import client
from modelrollout.metrics import measure, prometheus, provider
from modelrollout.metrics import registry as metric_registry
from modelrollout.rollout import monitoring as monitoring_brain
from modelrollout.sources import pick
from modelrollout.traffic import registry
from modelrollout.traffic import router as traffic_router

_OUTCOMES = {
    api.Phase.HEALTHY: "promoted",
    api.Phase.ROLLED_BACK: "rolled_back",
    api.Phase.FAILED: "failed",
}
log = logging.getLogger(__name__)


@dataclass
class Providers:
    """One metric provider client per provider and address, shared by every ModelDeployment that
    names it, and one HTTP client for model sources (registries)."""

    by_choice: dict[metric_registry.Choice, provider.MetricProvider] = field(default_factory=dict)
    sources_http: httpx.Client = field(default_factory=pick.client)

    def get(self, choice: metric_registry.Choice) -> provider.MetricProvider:
        if choice not in self.by_choice:
            self.by_choice[choice] = metric_registry.build(choice)
        return self.by_choice[choice]

    def close(self) -> None:
        for p in self.by_choice.values():
            p.close()
        self.by_choice.clear()
        self.sources_http.close()


def utcnow() -> datetime:
    return datetime.now(UTC)


def reconcile(
    *,
    kube: client.Kube,
    settings: Settings,
    providers: Providers,
    metrics: OperatorMetrics,
    namespace: str,
    name: str,
    clock: Callable[[], datetime] = utcnow,
) -> timedelta | None:
    """Runs one turn; returns how long to wait before the next one, or None when the object is gone."""
    started = time.monotonic()
    key = f"{namespace}/{name}"
    metrics.in_flight_since[key] = started
    try:
        return _turn(
            kube=kube,
            settings=settings,
            providers=providers,
            metrics=metrics,
            namespace=namespace,
            name=name,
            clock=clock,
        )
    finally:
        metrics.in_flight_since.pop(key, None)
        metrics.reconcile_seconds.observe(time.monotonic() - started)
        metrics.last_reconcile.set_to_current_time()


def _turn(
    *,
    kube: client.Kube,
    settings: Settings,
    providers: Providers,
    metrics: OperatorMetrics,
    namespace: str,
    name: str,
    clock: Callable[[], datetime],
) -> timedelta | None:
    body = kube.get(api_version=api.API_VERSION, kind=api.KIND, name=name, namespace=namespace)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    body.setdefault("apiVersion", api.API_VERSION)
    body.setdefault("kind", api.KIND)
    status = _status(body)
    try:
        sourced = sourcing.resolve(
            body.get("spec") or {}, status=status, http=providers.sources_http, now=clock()
        )
        spec = api.ModelDeploymentSpec.model_validate(sourced.spec)
        scaling = spec.serving.autoscaling
        router = registry.router_for(
            spec.rollout.traffic_routing,
            dynamic_stable_scale=spec.rollout.dynamic_stable_scale and scaling is None,
            canary_limit=None if scaling is None else scaling.max_replicas,
        )
        metric_source = None if spec.analysis is None else metric_registry.choose(spec.analysis)
    except (
        pydantic.ValidationError,
        traffic_router.RouterError,
        metric_registry.ProviderChoiceError,
    ) as e:
        _invalid_spec(kube, body=body, error=e, now=clock())
        return settings.idle_resync
    except sourcing.SourceUnavailableError as e:
        text = f"{e} Nothing was changed; the operator asks the source again in {int(e.retry.total_seconds())}s."
        _report(kube, body=body, message=text, reason=api.Reason.SOURCE_UNAVAILABLE, now=clock())
        return max(e.retry, MIN_DELAY)
    status = sourced.status
    candidate = spec.model.version if spec.model.version != status.stable_version else None
    world = observe.read_world(
        kube,
        md_name=name,
        namespace=namespace,
        router=router,
        port=spec.serving.port,
        validating=candidate if spec.validation is not None else None,
        validations=candidate is not None or status.canary_version is not None,
        autoscaled=scaling is not None,
    )
    now = clock()
    measurements: tuple[api.Measurement, ...] = ()
    if metric_source is not None and rollout.measurement_due(spec=spec, status=status, now=now):
        measurements = measure.take_round(
            prov=providers.get(metric_source),
            spec=spec,
            status=status,
            namespace=namespace,
            now=now,
        )
        for m in measurements:
            metrics.measurements.labels(namespace, name, m.metric, m.phase.value).inc()
    # The decide step: one router plan for the weight in status, which the brain is told about and
    # which the actions carry when the weight stays; a moved weight is planned once more, here.
    seen = orders.plan(router, spec=spec, world=world, weight=status.canary_weight)
    observation = rollout.Observation(
        name=name,
        generation=body["metadata"].get("generation"),
        stable=observe.workload(world.stable),
        canary=observe.workload(world.canary, world.canary_pods),
        traffic=orders.traffic(router, seen, world.readiness),
        validation=(
            observe.validation(world, version=candidate)
            if candidate is not None and spec.validation is not None
            else None
        ),
        measurements=measurements,
        requests=observe.requests(body["metadata"].get("annotations") or {}),
    )
    decision = rollout.decide(spec=spec, status=status, observation=observation, now=now)
    mirror = rollout.mirror_percent(spec, decision.status)
    todo = orders.resolve(
        decision.actions, router=router, spec=spec, world=world, seen=seen, mirror=mirror
    )
    ctx = act.Context(body=body, spec=spec, world=world, image=settings.image)
    writes = act.writes_for(
        ctx,
        todo,
        # Without a split (router none) the canary runs no pods: the Service may select it.
        canary_serves=decision.status.canary_weight > 0 or router.name == "none",
        mirror=mirror,
    )
    picked = (
        ()
        if sourced.picked is None
        else (act.Event(reason=api.Reason.SOURCE_PICKED, message=sourced.picked, type="Normal"),)
    )
    final, alerts = decision.status, list[act.Event]()
    if monitoring_brain.due(spec=spec, status=final, now=now):
        final, alerts = monitoring.check(
            prov=_prometheus(providers, spec),
            spec=spec,
            status=final,
            name=name,
            namespace=namespace,
            generation=body["metadata"].get("generation"),
            now=now,
        )
    act.execute(kube, (*picked, *writes, *alerts), involved=body, now=now)
    _write_status(kube, body=body, status=final)
    metrics.canary_weight.labels(namespace, name).set(decision.status.canary_weight)
    if decision.status.phase is not status.phase and decision.status.phase in _OUTCOMES:
        metrics.rollouts.labels(namespace, name, _OUTCOMES[decision.status.phase]).inc()
    wait = decision.requeue_after if decision.requeue_after is not None else settings.idle_resync
    if sourced.poll is not None:
        wait = min(wait, sourced.poll)
    if spec.monitoring is not None and final.phase is api.Phase.HEALTHY:
        wait = min(wait, api.parse_duration(spec.monitoring.interval))
    return max(min(wait, settings.idle_resync), MIN_DELAY if wait > timedelta(0) else timedelta(0))


def _prometheus(
    providers: Providers, spec: api.ModelDeploymentSpec
) -> prometheus.PrometheusProvider | None:
    """The Prometheus spec.monitoring reads the stable's series from (spec.analysis.prometheus)."""
    settings = None if spec.analysis is None else spec.analysis.prometheus
    if settings is None:
        return None
    prov = providers.get(metric_registry.Choice(name="prometheus", address=settings.address))
    return prov if isinstance(prov, prometheus.PrometheusProvider) else None


def _status(body: dict[str, Any]) -> api.ModelDeploymentStatus:
    raw = body.get("status") or {}
    try:
        return api.ModelDeploymentStatus.model_validate(raw)
    except pydantic.ValidationError:
        # A status this operator cannot read (written by hand, or by a newer version) is not trusted
        # for decisions; keep what identifies the stable version so its pods are never dropped.
        log.exception(
            "status of %s cannot be read; starting from its stable version only",
            body["metadata"]["name"],
        )
        keep = {k: raw[k] for k in ("stableVersion", "stableModel") if k in raw}
        try:
            return api.ModelDeploymentStatus.model_validate(keep)
        except pydantic.ValidationError:
            return api.ModelDeploymentStatus()


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch that turns old into new (None removes a field; lists are replaced)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch = {k: None for k in old if k not in new}
    for k, v in new.items():
        if k not in old:
            patch[k] = v
        elif old[k] != v:
            patch[k] = merge_patch(old[k], v)
    return patch


def _write_status(
    kube: client.Kube, *, body: dict[str, Any], status: api.ModelDeploymentStatus
) -> None:
    old = body.get("status") or {}
    new = status.model_dump(by_alias=True, mode="json", exclude_none=True)
    patch = merge_patch(old, new)
    if not patch:
        return
    meta = body["metadata"]
    kube.patch_status(
        api_version=api.API_VERSION,
        kind=api.KIND,
        name=meta["name"],
        namespace=meta["namespace"],
        status=patch,
    )


def _invalid_spec(
    kube: client.Kube, *, body: dict[str, Any], error: Exception, now: datetime
) -> None:
    message = api.message(api.Reason.INVALID_SPEC, error=error)
    _report(kube, body=body, message=message, reason=api.Reason.INVALID_SPEC, now=now)


def _report(
    kube: client.Kube, *, body: dict[str, Any], message: str, reason: api.Reason, now: datetime
) -> None:
    """A turn that cannot go on: say why once, as an event and in status.message."""
    old = body.get("status") or {}
    if old.get("message") == message[:2000]:
        return
    kube.event(
        involved=body,
        reason=reason.value,
        message=message,
        type="Warning",
        now=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    meta = body["metadata"]
    kube.patch_status(
        api_version=api.API_VERSION,
        kind=api.KIND,
        name=meta["name"],
        namespace=meta["namespace"],
        status={"message": message[:2000], "observedGeneration": meta.get("generation")},
    )
