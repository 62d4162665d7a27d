"""`spec.validation`: the offline gate run in a Job before any traffic moves to a new version."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from modelrollout.api.base import PositiveDuration, Rule, SpecModel, Uri, min_not_above_max

QualityMetric = Literal["accuracy", "f1", "rocAuc", "rmse", "mae", "r2"]
ColumnType = Literal["float", "int", "string", "bool"]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
# Quality metrics that are shares between 0 and 1; the others are errors (rmse, mae) or r2 (at most 1).
SCORES = ("accuracy", "f1", "rocAuc")
_SCORES_CEL = "[" + ", ".join(f"'{m}'" for m in SCORES) + "]"
# Bounded so the API server's cost estimate of CEL rules over columns stays within budget.
ColumnName = Annotated[str, Field(min_length=1, max_length=253)]


class DatasetSpec(SpecModel):
    """A labelled dataset the candidate model is scored on."""

    uri: Uri
    format: Literal["csv", "parquet"] = "csv"
    target: ColumnName
    """Column holding the true label or value."""


class ReferenceDatasetSpec(SpecModel):
    """The data the stable model was trained on; enables drift checks."""

    uri: Uri
    format: Literal["csv", "parquet"] = "csv"
    target: ColumnName | None = None
    """Label column to leave out of drift checks, if present."""


class ColumnSpec(SpecModel):
    """A declared column of the dataset."""

    name: ColumnName
    type: ColumnType
    min: float | None = None
    max: float | None = None
    max_missing_ratio: Ratio | None = None

    rules = (min_not_above_max(),)


class Bound(SpecModel):
    """An allowed range: at least one of min and max."""

    min: float | None = None
    max: float | None = None

    rules = (
        Rule(
            cel="has(self.min) || has(self.max)",
            message="set min, max or both",
            check=lambda b: b.min is not None or b.max is not None,
        ),
        min_not_above_max(),
    )


class ScoreBound(Bound):
    """An allowed range of a score between 0 and 1 (0.9, not 90): at least one of min and max."""

    min: Ratio | None = None
    max: Ratio | None = None

    rules = Bound.rules


class NonNegativeBound(Bound):
    """An allowed range of an error or a time, never below 0: at least one of min and max."""

    min: NonNegative | None = None
    max: NonNegative | None = None

    rules = Bound.rules


class R2Bound(Bound):
    """An allowed range of R², which is at most 1 (and below 0 for a model worse than the mean)."""

    min: Annotated[float, Field(le=1.0)] | None = None
    max: Annotated[float, Field(le=1.0)] | None = None

    rules = Bound.rules


class Thresholds(SpecModel):
    """Offline quality and latency gates; the model fails validation if any is missed."""

    accuracy: ScoreBound | None = None
    f1: ScoreBound | None = None
    """Macro-averaged F1 (classifiers)."""
    roc_auc: ScoreBound | None = None
    """ROC AUC, one-vs-rest for more than two classes (classifiers)."""
    rmse: NonNegativeBound | None = None
    mae: NonNegativeBound | None = None
    r2: R2Bound | None = None
    latency_p50_ms: NonNegativeBound | None = None
    """Median single-row prediction time in milliseconds."""
    latency_p99_ms: NonNegativeBound | None = None
    """99th percentile single-row prediction time in milliseconds."""
    batch_latency_p99_ms: NonNegativeBound | None = None
    """99th percentile batch prediction time in milliseconds."""


class FairnessSpec(SpecModel):
    """Largest allowed gap of a metric between groups of a declared column."""

    group_column: ColumnName
    metric: QualityMetric = "accuracy"
    max_gap: NonNegative
    """For accuracy, f1 and rocAuc a share: at most 1 (0.05 for five points)."""

    rules = (
        Rule(
            cel=f"!(self.metric in {_SCORES_CEL}) || self.maxGap <= 1.0",
            message="accuracy, f1 and rocAuc lie between 0 and 1, so no gap between groups "
            "exceeds 1: write maxGap as a share, e.g. 0.05 for five points",
            check=lambda f: f.metric not in SCORES or f.max_gap <= 1.0,
            field_path=".maxGap",
        ),
    )


class RobustnessSpec(SpecModel):
    """Share of predictions that must stay unchanged under small relative noise."""

    noise: Annotated[float, Field(gt=0.0, le=1.0)] = 0.01
    min_stability: Ratio


class CompareWithStableSpec(SpecModel):
    """Score the stable model on the same rows; the candidate may be worse by at most maxDrop."""

    metric: QualityMetric = "accuracy"
    max_drop: NonNegative
    """For error metrics (rmse, mae) this is the largest allowed increase; for accuracy, f1 and
    rocAuc a share, at most 1 (0.02 for two points)."""

    rules = (
        Rule(
            cel=f"!(self.metric in {_SCORES_CEL}) || self.maxDrop <= 1.0",
            message="accuracy, f1 and rocAuc lie between 0 and 1, so no drop exceeds 1: "
            "write maxDrop as a share, e.g. 0.02 for two points",
            check=lambda c: c.metric not in SCORES or c.max_drop <= 1.0,
            field_path=".maxDrop",
        ),
    )


class ValidationSpec(SpecModel):
    """Checks a new version must pass before it gets any traffic."""

    dataset: DatasetSpec
    reference_dataset: ReferenceDatasetSpec | None = None
    columns: list[ColumnSpec] | None = Field(
        default=None,
        alias="schema",
        max_length=500,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """Declared columns: presence, type, range and missing ratio are checked."""
    max_missing_ratio: Ratio | None = None
    """Largest share of missing cells in the dataset."""
    max_drift: NonNegative | None = None
    """Largest per-column drift (PSI) against referenceDataset."""
    thresholds: Thresholds | None = None
    fairness: FairnessSpec | None = None
    robustness: RobustnessSpec | None = None
    compare_with_stable: CompareWithStableSpec | None = None
    timeout: PositiveDuration = "10m"
    """How long the validation Job may run before the version is failed."""

    rules = (
        Rule(
            cel="!has(self.maxDrift) || has(self.referenceDataset)",
            message="maxDrift needs a referenceDataset to measure drift against",
            check=lambda v: v.max_drift is None or v.reference_dataset is not None,
            field_path=".maxDrift",
        ),
        Rule(
            cel="!has(self.fairness) || !has(self.schema) || "
            "self.schema.exists(c, c.name == self.fairness.groupColumn)",
            message="fairness.groupColumn must be one of the columns declared in schema",
            check=lambda v: (
                v.fairness is None
                or v.columns is None
                or any(c.name == v.fairness.group_column for c in v.columns)
            ),
            field_path=".fairness.groupColumn",
        ),
    )

    @model_validator(mode="after")
    def _unique_column_names(self) -> ValidationSpec:
        # The CRD enforces this with a list-map keyed by name; Python users get the same rule.
        names = [c.name for c in self.columns or ()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"schema: column names must be unique, repeated: {', '.join(dupes)}")
        return self
