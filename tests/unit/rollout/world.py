"""A toy cluster for driving `decide` through whole rollouts: it carries out actions at once.

Pods come up after `pod_delay` turns unless `pods_fail`; the router settles once the canary pods
for a weight are ready. Good enough to check what the brain asks for, not how a cluster does it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from modelrollout import api, rollout
from modelrollout.analysis import judge

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def model(version: str, **extra: Any) -> dict[str, Any]:
    return {"name": "iris", "version": version, "uri": f"file:///m/{version}.skops", **extra}


def make_spec(version: str = "2", **sections: Any) -> api.ModelDeploymentSpec:
    doc: dict[str, Any] = {"model": model(version), "serving": {"replicas": 4}}
    doc.update(sections)
    return api.ModelDeploymentSpec.model_validate(doc)


ANALYSIS = {
    "prometheus": {"address": "http://prometheus:9090"},
    "interval": "30s",
    "count": 2,
    "metrics": [{"name": "accuracy", "min": 0.9}],
}
VALIDATION = {"dataset": {"uri": "file:///d/iris.csv", "target": "species"}, "timeout": "5m"}


def healthy(version: str = "1") -> api.ModelDeploymentStatus:
    """A status with `version` stable and serving."""
    return api.ModelDeploymentStatus(
        phase=api.Phase.HEALTHY,
        stable_version=version,
        stable_model=api.ModelSpec.model_validate(model(version)),
        phase_since=T0,
    )


@dataclass
class World:
    stable: str | None = None
    canary: str | None = None
    weight: int = 0
    pod_delay: int = 1
    pods_fail: bool = False
    validation: Literal["passed", "failed", "running"] = "passed"
    measure: Callable[[datetime], list[api.Measurement]] = lambda now: [
        judge.check_bounds(metric=api.MetricSpec(name="accuracy", min=0.9), value=0.95, now=now)
    ]
    requests: list[rollout.ManualRequest] = field(default_factory=list)
    jobs: set[str] = field(default_factory=set)
    _waiting: dict[str, int] = field(default_factory=dict)
    log: list[rollout.Decision] = field(default_factory=list)

    def _ready(self, track: str, version: str | None) -> bool:
        if version is None or self.pods_fail:
            return False
        return self._waiting.get(f"{track}:{version}", 0) <= 0

    def observe(
        self, spec: api.ModelDeploymentSpec, status: api.ModelDeploymentStatus, now: datetime
    ) -> rollout.Observation:
        for key in self._waiting:
            self._waiting[key] -= 1
        replicas = spec.serving.replicas
        stable = None
        if self.stable is not None:
            ready = replicas if self._ready("stable", self.stable) else 0
            stable = rollout.Workload(self.stable, replicas, ready, replicas)
        canary = None
        if self.canary is not None:
            n = replicas if self.weight else 0
            ready = n if self._ready("canary", self.canary) else 0
            canary = rollout.Workload(self.canary, n, ready, n)
        settled = self.weight == 0 or (canary is not None and canary.ready > 0)
        validation = None
        target = spec.model.version
        if target in self.jobs:
            validation = rollout.ValidationResult(version=target, state=self.validation)
        measurements: tuple[api.Measurement, ...] = ()
        if rollout.measurement_due(spec=spec, status=status, now=now):
            measurements = tuple(self.measure(now))
        return rollout.Observation(
            name="iris",
            generation=1,
            stable=stable,
            canary=canary,
            traffic=rollout.Traffic(weight=self.weight, settled=settled),
            validation=validation,
            measurements=measurements,
            requests=tuple(self.requests),
        )

    def apply(self, decision: rollout.Decision) -> None:
        self.log.append(decision)
        for action in decision.actions:
            match action:
                case rollout.EnsureStable(model=m) if m.version != self.stable:
                    self.stable = m.version
                    self._waiting[f"stable:{m.version}"] = self.pod_delay
                case rollout.EnsureCanary(model=m) if m.version != self.canary:
                    self.canary = m.version
                    self._waiting[f"canary:{m.version}"] = self.pod_delay
                case rollout.SetWeight(weight=w):
                    self.weight = w
                case rollout.DeleteCanary():
                    self.canary = None
                case rollout.StartValidation(model=m):
                    self.jobs.add(m.version)
                case rollout.DeleteValidation(version=v):
                    self.jobs.discard(v)


def run(
    spec: api.ModelDeploymentSpec,
    status: api.ModelDeploymentStatus,
    world: World,
    *,
    now: datetime = T0,
    turns: int = 200,
    until: Callable[[api.ModelDeploymentStatus], bool] = lambda s: s.phase.is_terminal,
) -> tuple[api.ModelDeploymentStatus, datetime]:
    """Decide and apply until `until(status)` (after at least one turn) or `turns` run out."""
    for _ in range(turns):
        obs = world.observe(spec, status, now)
        decision = rollout.decide(spec=spec, status=status, observation=obs, now=now)
        world.apply(decision)
        status = decision.status
        if until(status):
            break
        step = decision.requeue_after
        now += timedelta(seconds=10) if step is None else max(step, timedelta(seconds=1))
    return status, now
