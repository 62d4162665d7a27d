"""The top-level `ModelDeploymentSpec`, the resource's names (group, version, kind) and the rules on
a ModelDeployment's own name, which its children's names are made from."""

from __future__ import annotations

import re

from pydantic import Field

from modelrollout.api.analysis import AnalysisSpec
from modelrollout.api.base import Rule, SpecModel
from modelrollout.api.model import ModelSpec
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

    rules = (
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
    )
