"""Shadow steps at the edge: the shadow Service the stable copies requests to, and the canary's size
while it is a shadow. Called by act.carry_out; what a shadow step decides is in rollout/."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelrollout.k8s import builders, names

if TYPE_CHECKING:
    from modelrollout.controller.act import Context


def replicas(*, serving_replicas: int, mirror: int) -> int:
    """Canary pods for a shadow taking `mirror` percent of the stable's load (at least one)."""
    return max(1, int(serving_replicas * mirror / 100 + 0.5))


def ensure_service(
    ctx: Context,
    *,
    mirror: int,
    apply_if_changed: Callable[[Context, dict[str, Any], dict[str, Any] | None], None],
) -> None:
    """Point the shadow Service at the canary while `mirror` > 0, and at no pod otherwise.

    Only for a rollout with a shadow step: the Service outlives the step (its name stays resolvable
    to the stable's pods) and selects nothing between steps, so no copy reaches a serving canary."""
    if ctx.spec.rollout.mirror_percent <= 0:
        return
    manifest = builders.shadow_service(
        md_name=ctx.name,
        namespace=ctx.namespace,
        owner=ctx.owner,
        port=ctx.spec.serving.port,
        active=mirror > 0,
    )
    current = ctx.kube.get(
        api_version="v1",
        kind="Service",
        name=names.shadow_service(ctx.name),
        namespace=ctx.namespace,
    )
    apply_if_changed(ctx, manifest, current)
