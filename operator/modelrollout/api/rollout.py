"""`spec.rollout` and `spec.rollback`: the canary steps, traffic routing and what to do on failure."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from modelrollout.api.base import Duration, PositiveDuration, Rule, SpecModel, exactly_one, positive


class PauseStep(SpecModel):
    """Wait: for `duration`, or without one until a person promotes."""

    duration: (
        Annotated[
            Duration,
            positive(
                "a pause must last more than zero: write e.g. 30s, "
                "or leave duration out to pause until promoted"
            ),
        ]
        | None
    ) = None


class AnalysisStep(SpecModel):
    """Run `spec.analysis` now; the step passes after `count` measurement rounds."""

    count: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Measurement rounds; defaults to spec.analysis.count."""


class ShadowStep(SpecModel):
    """Run the new version as a shadow for `duration`, judged by spec.analysis all along.

    No client gets its answers: it serves no client traffic, while a share (`mirror` percent) of live
    requests is copied to it, so its accuracy (from feedback on the same request ids) can be judged.
    Under replicaRatio the stable copies them from a background queue and counts its agreement with
    the shadow (model_shadow_agreement_total); under gatewayAPI the HTTPRoute's rules get a
    RequestMirror filter to the <name>-shadow Service for the step, the Gateway copies them
    (feedback too, where the rule serves the feedback path), and agreement cannot be measured."""

    duration: Annotated[
        Duration,
        positive("a shadow step must last more than zero: write e.g. 10m"),
    ]
    """How long the shadow runs; analysis rounds every spec.analysis.interval fill it."""
    mirror: Annotated[int, Field(ge=1, le=100)] = 100
    """Percent of the stable's requests copied to the shadow (under gatewayAPI, the RequestMirror
    filter's percent, which the Gateway samples per request, feedback apart from its request)."""


class Step(SpecModel):
    """One step of the canary: exactly one of setWeight, pause, analysis and shadow."""

    set_weight: Annotated[int, Field(ge=0, le=100)] | None = None
    """Share of requests (percent) the new version should get."""
    pause: PauseStep | None = None
    analysis: AnalysisStep | None = None
    shadow: ShadowStep | None = None

    rules = (
        exactly_one(
            "set_weight",
            "pause",
            "analysis",
            "shadow",
            message="each step sets exactly one of setWeight, pause, analysis or shadow",
        ),
    )


class Empty(SpecModel):
    """A choice that needs no settings."""


class GatewayAPIRouting(SpecModel):
    """Split traffic with exact weights on a Gateway API HTTPRoute the user owns."""

    http_route: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)]
    """Name of the HTTPRoute (same namespace); its rule's backendRefs are managed."""


class TrafficRouting(SpecModel):
    """How weight becomes traffic; at most one choice, replica ratio when none is set."""

    replica_ratio: Empty | None = None
    """Share of ready endpoints behind one Service (the default)."""
    gateway_api: GatewayAPIRouting | None = Field(default=None, alias="gatewayAPI")
    none: Empty | None = None
    """No traffic split: the canary is promoted by replacing pods; weights only gate steps."""

    rules = (
        Rule(
            cel="[has(self.replicaRatio), has(self.gatewayAPI), has(self.none)]"
            ".filter(x, x).size() <= 1",
            message="choose at most one traffic router: replicaRatio, gatewayAPI or none",
            check=lambda t: [t.replica_ratio, t.gateway_api, t.none].count(None) >= 2,
        ),
    )

    @property
    def router(self) -> str:
        """The chosen router's name: replicaRatio, gatewayAPI or none."""
        if self.gateway_api is not None:
            return "gatewayAPI"
        if self.none is not None:
            return "none"
        return "replicaRatio"


class RolloutSpec(SpecModel):
    """The canary: steps run in order after validation passes; the end of the list promotes."""

    steps: list[Step] = Field(default_factory=list, max_length=100)
    traffic_routing: TrafficRouting = Field(default_factory=TrafficRouting)
    progress_deadline: PositiveDuration = "10m"
    """Longest wait for pods to become ready (or a step to make progress) before the rollout fails.
    A canary container OOM-killed, or held in CrashLoopBackOff, fails it at once instead (reason
    CanaryCrashed, naming the pod, the container and how it ended)."""
    paused: bool = False
    """Hold the rollout where it is; traffic stays as it is until this is false again."""
    dynamic_stable_scale: bool = True
    """Above 50% canary weight, shrink the stable to match its share (false: keep it full)."""

    rules = (
        Rule(
            cel="!has(self.steps) || !has(self.trafficRouting) || !has(self.trafficRouting.none)"
            " || !self.steps.exists(s, has(s.shadow))",
            message="a shadow step needs a canary beside the stable: trafficRouting none replaces "
            "pods instead; use replicaRatio or gatewayAPI",
            check=lambda r: (
                r.traffic_routing.none is None or not any(s.shadow is not None for s in r.steps)
            ),
            field_path=".steps",
        ),
        Rule(
            cel="!has(self.steps) || self.steps.filter(s, has(s.shadow))"
            ".all(s, s.shadow.mirror == self.steps.filter(t, has(t.shadow))[0].shadow.mirror)",
            message="every shadow step must mirror the same percent: the shadow's pods carry it",
            check=lambda r: len({s.shadow.mirror for s in r.steps if s.shadow is not None}) <= 1,
            field_path=".steps",
        ),
    )

    @property
    def mirror_percent(self) -> int:
        """The percent a shadow step mirrors (0 when the rollout has no shadow step)."""
        return next((s.shadow.mirror for s in self.steps if s.shadow is not None), 0)


class RollbackSpec(SpecModel):
    """What happens when a new version fails validation or analysis."""

    automatic: bool = True
    """Move all traffic back to the stable version at once; false pauses for a person instead."""
    scale_down_failed: bool = True
    """Delete the failed version's Deployment once traffic has left it (false keeps it, scaled to
    zero, with its pod template and events for inspection)."""
    scale_down_delay: Duration = "30s"
    """How long after traffic left the failed version its Deployment is deleted."""
