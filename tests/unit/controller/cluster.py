"""A ModelDeployment in the fake Kube, driven one controller turn at a time (tests/fakekube.py).

`Bed.turn` runs `reconcile` once and returns the status it wrote; every turn also checks that the
turn read the cluster before it wrote anything and read nothing twice (observe reads, act only
writes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from modelrollout import api
from modelrollout.controller import observability, reconcile, settings
from modelrollout.k8s import names
from modelrollout.metrics import provider
from tests.fakekube import Call, FakeKube

NS = "ml"
NAME = "iris"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
VALIDATION = {"dataset": {"uri": "file:///d/iris.csv", "target": "species"}}
ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "web", "namespace": NS},
    "spec": {"rules": [{"backendRefs": [{"name": "iris-stable", "port": 8080}]}]},
}


def md(version: str, *, steps: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME, "namespace": NS, "uid": "u1", "generation": 1},
        "spec": {
            "model": {"name": NAME, "version": version, "uri": f"file:///m/{version}.skops"},
            "serving": {"replicas": 2},
            "rollout": {
                "steps": steps or [{"setWeight": 25}, {"pause": {}}],
                **spec.pop("rollout", {}),
            },
            **spec,
        },
    }


@dataclass
class FixedProvider:
    """A metric provider whose every built-in metric reads `value` (None: no data yet)."""

    value_now: float | None = 0.95
    asked: list[tuple[str, str]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return "http://prometheus:9090"

    def value(self, metric: str, *, scope: provider.Scope, query: str | None = None) -> float:
        del query
        self.asked.append((metric, scope.track))
        if self.value_now is None:
            raise provider.NoData("no series", query=metric, address=self.address)
        return self.value_now

    def proportion_counts(self, metric: str, *, scope: provider.Scope) -> Any:
        raise NotImplementedError

    def histogram_counts(self, metric: str, *, scope: provider.Scope) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FixedProviders(reconcile.Providers):
    def __init__(self, prov: FixedProvider) -> None:
        super().__init__()
        self.prov = prov

    def get(self, choice: Any) -> Any:
        del choice
        return self.prov


@dataclass
class Bed:
    kube: FakeKube = field(default_factory=FakeKube)
    now: datetime = T0
    metrics: observability.OperatorMetrics = field(default_factory=observability.OperatorMetrics)
    providers: reconcile.Providers = field(default_factory=reconcile.Providers)
    last: list[Call] = field(default_factory=list)
    """The calls of the last turn."""

    @property
    def body(self) -> dict[str, Any]:
        return self.kube.obj("ModelDeployment", NS, NAME)

    def create(self, manifest: dict[str, Any]) -> None:
        self.kube.put(manifest)

    def change(self, *, version: str | None = None, **spec: Any) -> None:
        """A user applies a new spec: the model version, and any sections given."""
        body = self.body
        if version is not None:
            body["spec"]["model"] = md(version)["spec"]["model"]
        body["spec"].update(spec)
        body["metadata"]["generation"] += 1

    def annotate(self, request: str, token: str = "t1") -> None:
        self.body["metadata"].setdefault("annotations", {})[f"{names.GROUP}/{request}"] = token

    def turn(self, *, after: timedelta = timedelta(seconds=1)) -> dict[str, Any]:
        self.now += after
        self.kube.calls.clear()
        reconcile.reconcile(
            kube=self.kube,  # type: ignore[arg-type]
            settings=settings.Settings(image="model-rollout:test"),
            providers=self.providers,
            metrics=self.metrics,
            namespace=NS,
            name=NAME,
            clock=lambda: self.now,
        )
        self.last = list(self.kube.calls)
        assert self.kube.reads_after_writes() == [], "act read the cluster after writing"
        reads = [c for c in self.last if c.verb in {"get", "list"}]
        assert len(reads) == len(set(reads)), f"a turn read an object twice: {reads}"
        status: dict[str, Any] = self.body.get("status") or {}
        return status

    def until(self, phase: str, *, turns: int = 10, **kw: Any) -> dict[str, Any]:
        for _ in range(turns):
            status = self.turn(**kw)
            if status.get("phase") == phase:
                return status
        raise AssertionError(f"never reached {phase}; status {self.body.get('status')}")

    def writes(self) -> list[tuple[str, str, str]]:
        """(verb, kind, name) of the last turn's writes, status and events left out."""
        return [
            (c.verb, c.kind, c.name)
            for c in self.last
            if c.verb not in {"get", "list", "event", "patch_status"}
        ]

    def events(self) -> list[str]:
        return [c.name for c in self.last if c.verb == "event"]

    def replicas(self, track: names.Track) -> int:
        return int(
            self.kube.obj("Deployment", NS, names.deployment(NAME, track))["spec"]["replicas"]
        )

    def finish_validation(self, *, passed: bool = True, message: str = "checked") -> None:
        """The validation Job's pod ends and the Job controller marks the Job done."""
        (job,) = [j for (k, _, _), j in self.kube.objects.items() if k == "Job"]
        job["status"] = {"succeeded": 1} if passed else {"failed": 1}
        verdict = api.ValidationVerdict(
            outcome="passed" if passed else "failed",
            passed=passed,
            message=message,
            metrics={"accuracy": 0.97},
        )
        self.kube.put(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": job["metadata"]["name"] + "-x",
                    "namespace": NS,
                    "labels": {"job-name": job["metadata"]["name"]},
                },
                "status": {
                    "containerStatuses": [
                        {"state": {"terminated": {"message": verdict.wire().decode()}}}
                    ]
                },
            }
        )


def healthy(version: str = "1", **spec: Any) -> Bed:
    """A bed whose ModelDeployment runs `version` as its stable version, Healthy."""
    bed = Bed()
    if "gatewayAPI" in json.dumps(spec):
        bed.kube.put(ROUTE)
    bed.create(md(version, **spec))
    bed.until("Healthy")
    bed.turn()
    return bed
