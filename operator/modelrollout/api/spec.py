"""The top-level `ModelDeploymentSpec` and the resource's names (group, version, kind)."""

from __future__ import annotations

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


class ModelDeploymentSpec(SpecModel):
    """What the user wants served, how it is checked, and how traffic moves to it."""

    model: ModelSpec
    serving: ServingSpec = Field(default_factory=ServingSpec)
    validation: ValidationSpec | None = None
    """Offline checks in a Job before any traffic moves; skipped when absent."""
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    analysis: AnalysisSpec | None = None
    """Online checks from Prometheus, run by analysis steps."""
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
