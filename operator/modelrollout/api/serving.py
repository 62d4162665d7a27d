"""`spec.serving`: how the model server pods run (image, replicas, resources, probes, feedback auth)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from modelrollout.api.base import Rule, SpecModel

# A Kubernetes quantity: users write `cpu: 1` as well as `memory: 512Mi`.
Quantity = int | Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|E|Ei)?$")]


class ResourceRequirements(SpecModel):
    """Container resources, as in a Pod spec."""

    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None


class EnvVar(SpecModel):
    """An environment variable for the model server container."""

    name: Annotated[str, Field(pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", max_length=256)]
    value: str | None = None
    value_from: dict[str, Any] | None = None
    """As in a Pod spec (secretKeyRef, configMapKeyRef, fieldRef)."""

    rules = (
        Rule(
            cel="!(has(self.value) && has(self.valueFrom))",
            message="set value or valueFrom, not both",
            check=lambda e: not (e.value is not None and e.value_from is not None),
        ),
    )


# The model server reads its feedback token from this variable (see serving.config).
FEEDBACK_TOKEN_ENV = "MODEL_ROLLOUT_FEEDBACK_TOKEN"  # noqa: S105 - the name of a variable


class SecretKey(SpecModel):
    """A key of a Secret in the ModelDeployment's namespace."""

    secret_name: Annotated[
        str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", min_length=1, max_length=253)
    ]
    """The Secret's name; the pods do not start until it exists."""
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", min_length=1, max_length=253)] = "token"
    """The key in the Secret whose value is the token."""


class ProbeTuning(SpecModel):
    """Timing of a probe; the probe itself (HTTP on the server's health path) is fixed."""

    initial_delay_seconds: Annotated[int, Field(ge=0, le=3600)] | None = None
    period_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    failure_threshold: Annotated[int, Field(ge=1, le=100)] | None = None
    success_threshold: Annotated[int, Field(ge=1, le=100)] | None = None


class AutoscalingSpec(SpecModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) for the stable track; the canary follows it.

    During a rollout the canary's pods are computed from the stable's current count (as the HPA
    set it) by the replica-ratio rule, and the operator never writes the stable's replicas."""

    min_replicas: Annotated[int, Field(ge=1, le=1000)]
    max_replicas: Annotated[int, Field(ge=1, le=1000)]
    target_cpu: Annotated[int, Field(ge=1, le=100)] | None = Field(default=None, alias="targetCPU")
    """Average CPU use, in percent of the pods' CPU request, the HPA keeps the stable at."""
    target_requests_per_second: Annotated[int, Field(ge=1)] | None = None
    """Not supported yet: refused (see the rule)."""

    rules = (
        Rule(
            cel="self.minReplicas <= self.maxReplicas",
            message="minReplicas must be at most maxReplicas",
            check=lambda a: a.min_replicas <= a.max_replicas,
            field_path=".minReplicas",
        ),
        Rule(
            cel="!has(self.targetRequestsPerSecond)",
            message="targetRequestsPerSecond needs a custom-metrics adapter serving the pods' "
            "request rate to the HPA (e.g. prometheus-adapter), which this operator version does "
            "not install or configure; use targetCPU",
            check=lambda a: a.target_requests_per_second is None,
            field_path=".targetRequestsPerSecond",
        ),
        Rule(
            cel="has(self.targetCPU)",
            message="set targetCPU (percent of the pods' CPU request) for the HPA to aim at",
            check=lambda a: a.target_cpu is not None,
            field_path=".targetCPU",
        ),
    )


class ServingSpec(SpecModel):
    """The model server pods, stable and canary alike."""

    image: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    """Server image; defaults to the operator's own image, which contains the server."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    replicas: Annotated[int, Field(ge=1, le=1000)] = 1
    """Pods of the stable version; it keeps them all up to 50% canary weight, and above shrinks to
    its share unless spec.rollout.dynamicStableScale is false."""
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    """Server processes per pod."""
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    """REST (Open Inference Protocol v2, feedback, /metrics): the pods' and Service's port `http`."""
    grpc_port: Annotated[int, Field(ge=1, le=65535)] = 8081
    """Open Inference Protocol v2 over gRPC (inference.GRPCInferenceService of KServe's
    grpc_predict_v2.proto): the pods' and Service's port `grpc`."""
    resources: ResourceRequirements | None = None
    env: list[EnvVar] = Field(default_factory=list, max_length=100)
    readiness_probe: ProbeTuning | None = None
    liveness_probe: ProbeTuning | None = None
    service_account_name: str | None = None
    node_selector: dict[str, str] | None = None
    pod_labels: dict[str, str] | None = None
    """Extra labels on serving pods (the operator's own labels win on a clash)."""
    pod_annotations: dict[str, str] | None = None
    feedback_auth: SecretKey | None = None
    """A Secret key holding a token that feedback must carry as 'Authorization: Bearer <token>';
    unset, anyone who can reach the server can send feedback, and so move online accuracy."""
    autoscaling: AutoscalingSpec | None = None
    """Scale the stable track with an HPA between minReplicas and maxReplicas (replicas is then
    not used); the canary follows the stable's current count during a rollout."""

    rules = (
        Rule(
            cel="(has(self.port) ? self.port : 8080) != (has(self.grpcPort) ? self.grpcPort : 8081)",
            message="port and grpcPort must differ: REST and gRPC each need a port of their own",
            check=lambda s: s.port != s.grpc_port,
        ),
        Rule(
            cel=f"!has(self.feedbackAuth) || !has(self.env) || "
            f"!self.env.exists(e, e.name == '{FEEDBACK_TOKEN_ENV}')",
            message=f"set feedbackAuth or an env entry named {FEEDBACK_TOKEN_ENV}, not both",
            check=lambda s: (
                s.feedback_auth is None or all(e.name != FEEDBACK_TOKEN_ENV for e in s.env)
            ),
        ),
        Rule(
            cel="!has(self.autoscaling) || !has(self.autoscaling.targetCPU) || "
            "(has(self.resources) && has(self.resources.requests) && 'cpu' in self.resources.requests)",
            message="autoscaling.targetCPU is a percent of the pods' CPU request: set "
            "resources.requests.cpu",
            check=lambda s: (
                s.autoscaling is None
                or s.autoscaling.target_cpu is None
                or (
                    s.resources is not None
                    and s.resources.requests is not None
                    and "cpu" in s.resources.requests
                )
            ),
            field_path=".resources",
        ),
    )
