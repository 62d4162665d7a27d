"""`spec.validation`: the offline gate run in a Job before any traffic moves to a new version."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from modelrollout.api.base import Duration, Rule, SpecModel, Uri

QualityMetric = Literal["accuracy", "f1", "rocAuc", "rmse", "mae", "r2"]
ColumnType = Literal["float", "int", "string", "bool"]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
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

    rules = (
        Rule(
            cel="!has(self.min) || !has(self.max) || self.min <= self.max",
            message="min must not exceed max",
            check=lambda c: c.min is None or c.max is None or c.min <= c.max,
        ),
    )


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
        Rule(
            cel="!has(self.min) || !has(self.max) || self.min <= self.max",
            message="min must not exceed max",
            check=lambda b: b.min is None or b.max is None or b.min <= b.max,
        ),
    )


class Thresholds(SpecModel):
    """Offline quality and latency gates; the model fails validation if any is missed."""

    accuracy: Bound | None = None
    f1: Bound | None = None
    """Macro-averaged F1 (classifiers)."""
    roc_auc: Bound | None = None
    """ROC AUC, one-vs-rest for more than two classes (classifiers)."""
    rmse: Bound | None = None
    mae: Bound | None = None
    r2: Bound | None = None
    latency_p50_ms: Bound | None = None
    """Median single-row prediction time in milliseconds."""
    latency_p99_ms: Bound | None = None
    """99th percentile single-row prediction time in milliseconds."""
    batch_latency_p99_ms: Bound | None = None
    """99th percentile batch prediction time in milliseconds."""


class FairnessSpec(SpecModel):
    """Largest allowed gap of a metric between groups of a declared column."""

    group_column: ColumnName
    metric: QualityMetric = "accuracy"
    max_gap: Annotated[float, Field(ge=0.0)]


class RobustnessSpec(SpecModel):
    """Share of predictions that must stay unchanged under small relative noise."""

    noise: Annotated[float, Field(gt=0.0, le=1.0)] = 0.01
    min_stability: Ratio


class CompareWithStableSpec(SpecModel):
    """Score the stable model on the same rows; the candidate may be worse by at most maxDrop."""

    metric: QualityMetric = "accuracy"
    max_drop: Annotated[float, Field(ge=0.0)]
    """For error metrics (rmse, mae) this is the largest allowed increase."""


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
    max_drift: Annotated[float, Field(ge=0.0)] | None = None
    """Largest per-column drift (PSI) against referenceDataset."""
    thresholds: Thresholds | None = None
    fairness: FairnessSpec | None = None
    robustness: RobustnessSpec | None = None
    compare_with_stable: CompareWithStableSpec | None = None
    timeout: Duration = "10m"
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
