"""Run every check a validation spec asks for and assemble the report.

Called by `command` (the CLI verb); models and datasets come through the loader parameters, so tests
can hand in their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from modelrollout import api
from modelrollout.models import loading
from modelrollout.validation import (
    compare,
    data_checks,
    datasets,
    fairness,
    features,
    latency,
    quality,
    robustness,
    scoring,
    table,
)
from modelrollout.validation.request import Request
from modelrollout.validation.results import CheckResult, CouldNotRun


class LoadTable(Protocol):
    def __call__(self, uri: str, *, format: str, role: str) -> table.Table: ...


class LoadModel(Protocol):
    def __call__(self, spec: api.ModelSpec) -> loading.LoadedModel: ...


@dataclass
class Findings:
    """What the run found so far; kept when a later step cannot run, so the report shows it."""

    checks: list[CheckResult] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)


def _perturbable(data: table.Table, names: list[str], spec: api.ValidationSpec) -> np.ndarray:
    # Declared float columns get noise; declared int/bool are codes or counts. Undeclared columns
    # count as continuous when they hold a non-integer value.
    declared = {c.name: c.type for c in spec.columns or ()}
    return np.array(
        [
            declared.get(n) == "float" or (n not in declared and not data[n].is_integral)
            for n in names
        ],
        dtype=bool,
    )


def run(
    request: Request,
    found: Findings,
    *,
    load_table: LoadTable = datasets.load,
    load: LoadModel = scoring.load_model,
    clock: Callable[[], float] = time.perf_counter,
    budget: latency.Budget | None = None,
) -> None:
    """All checks in order (data, quality, latency, fairness, robustness, stable comparison)."""
    spec = request.validation
    target = spec.dataset.target
    group = spec.fairness.group_column if spec.fairness else None
    data = load_table(spec.dataset.uri, format=spec.dataset.format, role="dataset")
    found.context["dataset"] = {"uri": spec.dataset.uri, "rows": data.rows}
    for needed, where in ((target, "dataset.target"), (group, "fairness.groupColumn")):
        if needed is not None and needed not in data:
            raise CouldNotRun(
                f"validation.{where} names column {needed!r}, which the dataset "
                f"{spec.dataset.uri} does not have (it has: {', '.join(data.names)})"
            )
    ref = spec.reference_dataset
    reference = (
        None if ref is None else load_table(ref.uri, format=ref.format, role="reference dataset")
    )
    found.checks += _data_checks(spec, data, reference=reference)
    rows = data.take(~data[target].missing)
    found.context["dataset"]["rowsEvaluated"] = rows.rows
    if rows.rows == 0:
        raise CouldNotRun(f"every row of {spec.dataset.uri} misses the target {target!r}")

    expected = features.Expected(
        dataset=spec.dataset.uri,
        declared=[c.name for c in spec.columns or ()],
        reference=None if reference is None else reference.names,
        reference_target=None if ref is None else ref.target,
    )
    candidate = scoring.score(
        load(request.model), rows, target=target, group_column=group, expected=expected
    )
    found.context["model"] = {
        "name": request.model.name,
        "version": request.model.version,
        "uri": request.model.uri,
        "kind": candidate.model.kind,
        "sha256": candidate.model.digest,
        "features": candidate.feature_names,
    }
    timed = latency.measure(candidate.model.predict, candidate.features, clock=clock, budget=budget)
    measured: dict[str, Any] = dict(candidate.metrics)
    measured |= {k: timed[k] for k in quality.LATENCY_METRICS if k in timed}
    found.context["latencySamples"] = {k: v for k, v in timed.items() if k not in measured}
    found.context["metrics"] = measured
    found.checks += _model_checks(spec, rows, candidate=candidate, measured=measured)
    if spec.compare_with_stable is not None:
        found.checks.append(
            _compare(
                request,
                rows,
                candidate=candidate,
                load=load,
                expected=expected,
                context=found.context,
            )
        )
    # These checks' values belong beside the quality figures in the verdict (and so the status).
    for check in found.checks:
        family, _, what = check.name.partition(".")
        if check.value is not None and family in ("fairness", "robustness", "compareWithStable"):
            measured[f"{what}Drop" if family == "compareWithStable" else what] = check.value


def _data_checks(
    spec: api.ValidationSpec, data: table.Table, *, reference: table.Table | None
) -> list[CheckResult]:
    checks = data_checks.check_schema(
        data, rules=spec.columns or [], max_missing_ratio=spec.max_missing_ratio
    )
    ref = spec.reference_dataset
    if ref is not None and reference is not None:
        checks += data_checks.check_drift(
            data,
            reference=reference,
            max_drift=spec.max_drift,
            skip=[ref.target] if ref.target else [],
        )
    return checks


def _model_checks(
    spec: api.ValidationSpec,
    rows: table.Table,
    *,
    candidate: scoring.Scored,
    measured: dict[str, Any],
) -> list[CheckResult]:
    kind = candidate.model.kind
    checks = []
    if spec.thresholds is not None:
        checks += quality.check_thresholds(measured, thresholds=spec.thresholds, kind=kind)
    if spec.fairness is not None:
        quality.require_metric(spec.fairness.metric, kind=kind, where="validation.fairness.metric")
        checks.append(
            fairness.check(
                groups=rows[spec.fairness.group_column].text,
                metric=spec.fairness.metric,
                max_gap=spec.fairness.max_gap,
                kind=kind,
                y_true=candidate.y_true,
                y_pred=candidate.predictions,
                proba=candidate.proba,
                classes=candidate.model.classes,
                group_column=spec.fairness.group_column,
            )
        )
    if spec.robustness is not None:
        checks.append(
            robustness.check(
                candidate.model.predict,
                candidate.features,
                kind=kind,
                noise=spec.robustness.noise,
                min_stability=spec.robustness.min_stability,
                columns=_perturbable(rows, candidate.feature_names, spec),
                before=candidate.predictions,
            )
        )
    return checks


def _compare(
    request: Request,
    rows: table.Table,
    *,
    candidate: scoring.Scored,
    load: LoadModel,
    expected: features.Expected,
    context: dict[str, Any],
) -> CheckResult:
    rule = request.validation.compare_with_stable
    assert rule is not None
    metric = rule.metric
    where = "validation.compareWithStable.metric"
    quality.require_metric(metric, kind=candidate.model.kind, where=where)
    name = f"compareWithStable.{metric}"
    if request.stable is None:
        return CheckResult(
            name=name, passed=True, message="no stable version yet: nothing to compare"
        )
    target = request.validation.dataset.target
    group = request.validation.fairness.group_column if request.validation.fairness else None
    stable = scoring.score(
        load(request.stable), rows, target=target, group_column=group, expected=expected
    )
    if stable.model.kind != candidate.model.kind:
        raise CouldNotRun(
            f"the stable model {request.stable.version} is a {stable.model.kind} but the "
            f"candidate is a {candidate.model.kind}: they cannot be compared"
        )
    context["stable"] = {"version": request.stable.version, "metrics": stable.metrics}
    return compare.check(
        metric,
        candidate=candidate.metrics.get(metric),
        stable=stable.metrics.get(metric),
        max_drop=rule.max_drop,
        stable_version=request.stable.version,
    )


def subject(request: Request) -> str:
    return f"model {request.model.name} version {request.model.version}"
