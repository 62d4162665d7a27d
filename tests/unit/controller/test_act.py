"""act alone, from a World that observe read: every action the brain can ask for becomes its write,
and carrying the writes out only writes (a cluster that refuses reads is enough for it)."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from typing import Any

import pytest

from modelrollout import api, rollout
from modelrollout.controller import act, observe, orders
from modelrollout.k8s import names
from modelrollout.traffic import registry
from tests.fakekube import FakeKube
from tests.unit.controller.cluster import NAME, NS, VALIDATION, healthy, md

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)
V2 = api.ModelSpec.model_validate(md("2")["spec"]["model"])
V1 = api.ModelSpec.model_validate(md("1")["spec"]["model"])
V3 = api.ModelSpec.model_validate(md("3")["spec"]["model"])


def context(*, canary: bool = False) -> tuple[act.Context, FakeKube]:
    """A Healthy ModelDeployment running version 1, read as a turn reads it, with a validation Job
    of version 2 in the cluster, and with `canary` a canary Deployment scaled to nothing."""
    bed = healthy()
    bed.body["spec"]["validation"] = VALIDATION
    kube = bed.kube
    if canary:
        stable = kube.obj("Deployment", NS, names.deployment(NAME, "stable"))
        kube.put({**stable, "spec": {**stable["spec"], "replicas": 0}, "status": {},
                  "metadata": {"name": names.deployment(NAME, "canary"), "namespace": NS}})  # fmt: skip
    kube.put({"apiVersion": "batch/v1", "kind": "Job",
              "metadata": {"name": "iris-validate-2", "namespace": NS,
                           "labels": {names.LABEL_NAME: NAME, names.LABEL_ROLE: "validation",
                                      names.LABEL_VERSION: "2"}}})  # fmt: skip
    body = bed.body
    parsed = api.ModelDeploymentSpec.model_validate(body["spec"])
    router = registry.router_for(parsed.rollout.traffic_routing)
    world = observe.read_world(
        kube, md_name=NAME, namespace=NS, router=router, port=parsed.serving.port,
        validating="2", validations=True,
    )  # fmt: skip
    return act.Context(body=body, spec=parsed, world=world, image="model-rollout:test"), kube


def writes(
    ctx: act.Context, actions: tuple[rollout.Action, ...], **kw: Any
) -> tuple[act.Write, ...]:
    """The writes of `actions` with their values as the decide step gives them (one router plan)."""
    router = registry.router_for(ctx.spec.rollout.traffic_routing)
    seen = orders.plan(router, spec=ctx.spec, world=ctx.world, weight=0)
    todo = orders.resolve(actions, router=router, spec=ctx.spec, world=ctx.world, seen=seen)
    return act.writes_for(ctx, todo, **kw)


# One instance of every action the brain can return, and the write it must become.
EXAMPLES: dict[type, tuple[rollout.Action, Any]] = {
    rollout.EnsureStable: (rollout.EnsureStable(model=V2), ("Deployment", "iris-stable")),
    rollout.EnsureCanary: (rollout.EnsureCanary(model=V2), ("Deployment", "iris-canary")),
    rollout.SetWeight: (rollout.SetWeight(weight=50), ("Deployment", "iris-canary")),
    rollout.DeleteCanary: (rollout.DeleteCanary(), ("Deployment", "iris-canary")),
    rollout.StartValidation: (rollout.StartValidation(model=V3, stable=V1), ("Job", None)),
    rollout.DeleteValidation: (rollout.DeleteValidation(version="2"), ("Job", "iris-validate-2")),
    rollout.RecordEvent: (
        rollout.RecordEvent(reason=api.Reason.RESUMED, message="m"),
        ("Event", "Resumed"),
    ),
}


def test_every_kind_of_action_has_an_example_here() -> None:
    assert set(EXAMPLES) == set(typing.get_args(rollout.Action))


def what(write: act.Write) -> tuple[str, str | None]:
    match write:
        case act.Apply(manifest=m) | act.Replace(manifest=m):
            return m["kind"], m["metadata"]["name"]
        case act.Scale(name=name):
            return "Deployment", name
        case act.Delete(kind=kind, name=name):
            return kind, name
        case act.Event(reason=reason):
            return "Event", reason.value
    raise AssertionError(write)


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=lambda k: k.__name__)
def test_each_action_becomes_its_write_and_nothing_is_planned_without_it(kind: type) -> None:
    ctx, _ = context(canary=kind is rollout.SetWeight)
    action, (obj_kind, name) = EXAMPLES[kind]
    # Every action but SetWeight needs the weight beside it (the replicas follow from it); the
    # weight the cluster already carries writes nothing by itself.
    steady = (rollout.SetWeight(weight=0),) if kind is not rollout.SetWeight else ()
    with_it = [what(w) for w in writes(ctx, (*steady, action))]
    without = [what(w) for w in writes(ctx, steady)]
    expected = [w for w in with_it if w[0] == obj_kind and (name is None or w[1] == name)]
    assert expected, f"{action} wrote nothing for {obj_kind} {name}: {with_it}"
    assert not [w for w in without if w in expected]


def test_a_turn_s_writes_are_carried_out_without_reading_the_cluster() -> None:
    ctx, kube = context(canary=True)

    def refuse(**_: Any) -> None:
        raise AssertionError("act read the cluster")

    kube.get = refuse  # type: ignore[method-assign]
    kube.list = refuse  # type: ignore[method-assign]
    planned = writes(
        ctx,
        (
            rollout.EnsureStable(model=V1),
            rollout.EnsureCanary(model=V2),
            rollout.SetWeight(weight=50),
            rollout.DeleteValidation(version="2"),
            rollout.RecordEvent(reason=api.Reason.WEIGHT_SET, message="m"),
        ),
    )
    kube.calls.clear()
    act.execute(kube, planned, involved=ctx.body, now=NOW)  # type: ignore[arg-type]
    assert [(c.verb, c.kind) for c in kube.calls] == [
        # The client Service selected the stable alone at weight 0; the canary now serves too.
        ("apply", "Service"),
        ("apply", "Deployment"),
        ("delete", "Job"),
        ("event", "Event"),
    ]


def test_an_unchanged_object_is_never_planned_again() -> None:
    ctx, _ = context()
    steady = (rollout.EnsureStable(model=V1), rollout.SetWeight(weight=0))
    assert writes(ctx, steady, canary_serves=False) == ()
