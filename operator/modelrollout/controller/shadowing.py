"""Shadow steps at the edge: the shadow Service the stable copies requests to (written by act), and
the canary's size while it is a shadow (for orders). What a shadow step decides is in rollout/."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from modelrollout.k8s import builders

if TYPE_CHECKING:
    from modelrollout.controller.act import Context, Write


def replicas(*, serving_replicas: int, mirror: int) -> int:
    """Canary pods for a shadow taking `mirror` percent of the stable's load (at least one)."""
    return max(1, int(serving_replicas * mirror / 100 + 0.5))


def service(
    ctx: Context,
    *,
    mirror: int,
    if_changed: Callable[[dict[str, Any], Mapping[str, Any] | None], Iterator[Write]],
) -> Iterator[Write]:
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
    yield from if_changed(manifest, ctx.world.shadow_service)
