"""The top-level `ModelDeploymentSpec`, the resource's names (group, version, kind) and the rules on
a ModelDeployment's own name, which its children's names are made from."""

from __future__ import annotations

import re

from pydantic import Field

from modelrollout.api.analysis import AnalysisSpec
from modelrollout.api.base import Rule, SpecModel
from modelrollout.api.model import ModelSpec
from modelrollout.api.monitoring import MonitoringSpec
from modelrollout.api.rollout import RollbackSpec, RolloutSpec
from modelrollout.api.serving import ServingSpec
from modelrollout.api.validation import ValidationSpec

GROUP = "modelrollout.io"
VERSION = "v1alpha1"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
SINGULAR = "modeldeployment"
SHORT_NAMES = ("md", "mdep")
API_VERSION = f"{GROUP}/{VERSION}"

# The longest names a ModelDeployment gives its children are its Services <name>-stable and
# <name>-canary (k8s/names.py: a Gateway API router needs them, and the router may be chosen after
# the name is fixed), and a Service name is a DNS-1035 label of at most 63 characters. Everything
# else is shorter or cut to fit: the Deployments, label values (<name>), the validation Job (cut and
# hashed to 61) and pods (named by their controllers within the limits).
SERVICE_NAME_LIMIT = 63
LONGEST_CHILD_SUFFIX = "-canary"
MAX_NAME_LENGTH = SERVICE_NAME_LIMIT - len(LONGEST_CHILD_SUFFIX)
# A DNS-1035 label, as a Service name must be: a ModelDeployment named "1st" or "a.b" is a valid
# object whose Service the API server refuses.
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

# The model server's series counted by the stable's own forwarding to a shadow (agreement, mirrored,
# dropped; serving/metrics.py). Under a router that mirrors (gatewayAPI) no server counts them.
SHADOW_SERIES = "model_shadow_"

# Rules on the whole object (`self` is the resource), on the CRD's root; checked by `check_name`.
NAME_RULES = (
    Rule(
        cel=f"self.metadata.name.size() <= {MAX_NAME_LENGTH}",
        message=f"a ModelDeployment name may be at most {MAX_NAME_LENGTH} characters: its "
        f"Services are named <name>-stable and <name>-canary, and a Service name is at most "
        f"{SERVICE_NAME_LIMIT}; choose a shorter name",
        check=lambda md: len(md["metadata"]["name"]) <= MAX_NAME_LENGTH,
        field_path=".metadata.name",
    ),
    Rule(
        cel=f"self.metadata.name.matches('{NAME_PATTERN}')",
        message="a ModelDeployment name must start with a letter and hold only lowercase "
        "letters, digits and '-' (no '.'): it is also the name of its Service, a DNS-1035 label",
        check=lambda md: re.fullmatch(NAME_PATTERN, md["metadata"]["name"]) is not None,
        field_path=".metadata.name",
    ),
)


def check_name(name: str) -> None:
    """Raise ValueError, saying why, when `name` cannot name a ModelDeployment's children."""
    broken = [rule.message for rule in NAME_RULES if not rule.check({"metadata": {"name": name}})]
    if broken:
        raise ValueError(f"metadata.name {name!r}: " + "; ".join(broken))


class ModelDeploymentSpec(SpecModel):
    """What the user wants served, how it is checked, and how traffic moves to it."""

    model: ModelSpec
    serving: ServingSpec = Field(default_factory=ServingSpec)
    validation: ValidationSpec | None = None
    """Offline checks in a Job before any traffic moves; skipped when absent."""
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    analysis: AnalysisSpec | None = None
    """Online checks from a metric provider (Prometheus by default), run by analysis steps."""
    rollback: RollbackSpec = Field(default_factory=RollbackSpec)
    monitoring: MonitoringSpec | None = None
    """Checks of the stable version after promotion: input drift, online accuracy."""

    rules = (
        Rule(
            cel="!has(self.monitoring) || (has(self.analysis) && has(self.analysis.prometheus))",
            message="monitoring reads Prometheus at spec.analysis.prometheus: set it",
            check=lambda s: (
                s.monitoring is None
                or (s.analysis is not None and s.analysis.prometheus is not None)
            ),
            field_path=".monitoring",
        ),
        Rule(
            cel="!has(self.monitoring) || !has(self.monitoring.drift) || has(self.validation)",
            message="drift is measured against the reference dataset of spec.validation "
            "(referenceDataset, else dataset): set spec.validation",
            check=lambda s: (
                s.monitoring is None or s.monitoring.drift is None or s.validation is not None
            ),
            field_path=".monitoring.drift",
        ),
        Rule(
            cel="!has(self.rollout) || !has(self.rollout.steps) || has(self.analysis) || "
            "!self.rollout.steps.exists(s, has(s.analysis))",
            message="an analysis step needs spec.analysis (the metrics to check)",
            check=lambda s: (
                s.analysis is not None
                or not any(step.analysis is not None for step in s.rollout.steps)
            ),
            field_path=".analysis",
        ),
        Rule(
            cel="!has(self.rollout) || !has(self.rollout.steps) || has(self.analysis) || "
            "!self.rollout.steps.exists(s, has(s.shadow))",
            message="a shadow step needs spec.analysis (the metrics the shadow is judged by)",
            check=lambda s: (
                s.analysis is not None
                or not any(step.shadow is not None for step in s.rollout.steps)
            ),
            field_path=".analysis",
        ),
        Rule(
            cel="!has(self.rollout) || !has(self.rollout.trafficRouting) || "
            "!has(self.rollout.trafficRouting.gatewayAPI) || !has(self.rollout.steps) || "
            "!self.rollout.steps.exists(s, has(s.shadow)) || !has(self.analysis) || "
            f"!self.analysis.metrics.exists(m, has(m.query) && m.query.contains('{SHADOW_SERIES}'))",
            message="a shadow step under gatewayAPI cannot be judged on agreement with the "
            f"stable, nor on any other {SHADOW_SERIES}* series: the Gateway mirrors the requests "
            "and discards the shadow's answers, so no server sees both answers, and the stable's "
            "own forwarding, which counts those series, is off; judge the shadow on accuracy, "
            "error_rate or latency_p99_ms, or use the replicaRatio router to measure agreement",
            check=lambda s: (
                s.rollout.traffic_routing.gateway_api is None
                or not any(step.shadow is not None for step in s.rollout.steps)
                or s.analysis is None
                or not any(SHADOW_SERIES in (m.query or "") for m in s.analysis.metrics)
            ),
            field_path=".analysis.metrics",
        ),
    )
