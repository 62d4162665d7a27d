"""Data checks: the declared schema (presence, type, range, missing values) and drift against a reference.

Pure functions of `Table`s; the runner calls them before any model is asked to predict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from modelrollout import api
from modelrollout.validation import results, table
from modelrollout.validation.results import CheckResult

# Floor for an empty bin's share: PSI is infinite otherwise. 1e-4 is the usual choice in credit
# scoring, where PSI comes from.
PSI_EPSILON = 1e-4
# PSI grows with sampling noise roughly as (bins - 1) * (1/n + 1/m); at least 20 rows per bin keeps
# that well under the common 0.1 "no drift" line, so small datasets get fewer bins.
ROWS_PER_BIN = 20
MAX_BINS = 10
EXAMPLES = 3


def _rows(mask: table.BoolArray) -> str:
    rows = np.flatnonzero(mask)[:EXAMPLES] + 1
    more = ", ..." if mask.sum() > EXAMPLES else ""
    return ", ".join(str(r) for r in rows) + more


def _type_check(rule: api.ColumnSpec, col: table.Column) -> CheckResult:
    name = f"data.type.{rule.name}"
    if rule.type == "string":
        return CheckResult(name=name, passed=True, message=f"column {rule.name} is present")
    if rule.type == "bool":
        bad = col.not_bool
    elif rule.type == "int":
        bad = col.not_numeric | (~col.missing & (col.numbers != np.round(col.numbers)))
    else:
        bad = col.not_numeric
    if not bad.any():
        return CheckResult(name=name, passed=True, message=f"column {rule.name} is {rule.type}")
    examples = ", ".join(repr(t) for t in col.text[bad][:EXAMPLES])
    return CheckResult(
        name=name,
        passed=False,
        value=float(bad.sum()),
        message=(
            f"column {rule.name} should be {rule.type} but {int(bad.sum())} of {len(bad)} values "
            f"are not (rows {_rows(bad)}: {examples})"
        ),
    )


def _range_check(rule: api.ColumnSpec, col: table.Column) -> CheckResult:
    name = f"data.range.{rule.name}"
    present = ~col.missing & ~col.not_numeric
    values = col.numbers[present]
    if not len(values):
        return results.bounded(name, value=None, min=rule.min, max=rule.max)
    lo_bound = -np.inf if rule.min is None else rule.min
    hi_bound = np.inf if rule.max is None else rule.max
    outside = present & ((col.numbers < lo_bound) | (col.numbers > hi_bound))
    if not outside.any():
        lo, hi = float(values.min()), float(values.max())
        return CheckResult(
            name=name,
            passed=True,
            message=f"column {rule.name} lies in [{results.fmt(lo)}, {results.fmt(hi)}]",
        )
    return CheckResult(
        name=name,
        passed=False,
        value=float(outside.sum()),
        min=rule.min,
        max=rule.max,
        message=(
            f"column {rule.name} has {int(outside.sum())} values outside "
            f"[{results.fmt(rule.min)}, {results.fmt(rule.max)}] (rows {_rows(outside)}: "
            f"{', '.join(results.fmt(v) for v in col.numbers[outside][:EXAMPLES])})"
        ),
    )


def check_schema(
    data: table.Table, *, rules: Sequence[api.ColumnSpec], max_missing_ratio: float | None
) -> list[CheckResult]:
    """Declared columns are present with their type and range; no column misses too many values."""
    out: list[CheckResult] = []
    declared = {r.name: r for r in rules}
    for rule in rules:
        if rule.name not in data:
            out.append(
                CheckResult(
                    name=f"data.type.{rule.name}",
                    passed=False,
                    message=(
                        f"declared column {rule.name} is not in the dataset (it has: "
                        f"{', '.join(data.names)})"
                    ),
                )
            )
            continue
        col = data[rule.name]
        out.append(_type_check(rule, col))
        if rule.min is not None or rule.max is not None:
            out.append(_range_check(rule, col))
    for name in data.names:
        own = declared[name].max_missing_ratio if name in declared else None
        limit = max_missing_ratio if own is None else own
        if limit is not None:
            out.append(
                results.bounded(
                    f"data.missing.{name}",
                    value=data[name].missing_ratio,
                    max=limit,
                    what=f"share of missing values in column {name}",
                )
            )
    return out


def _shares(counts: Sequence[float]) -> table.FloatArray:
    arr = np.asarray(counts, dtype=np.float64)
    shares: table.FloatArray = np.maximum(arr / max(float(arr.sum()), 1.0), PSI_EPSILON)
    return shares


def _psi(expected: table.FloatArray, actual: table.FloatArray) -> float:
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_numeric(reference: table.FloatArray, current: table.FloatArray) -> float:
    """Population stability index over quantile bins of the reference (NaNs ignored)."""
    ref, cur = reference[~np.isnan(reference)], current[~np.isnan(current)]
    if not len(ref) or not len(cur):
        return float("nan")
    bins = int(np.clip(min(len(ref), len(cur)) // ROWS_PER_BIN, 2, MAX_BINS))
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    # Bins are (edge, next edge]: a constant reference column still has a bin above its value.
    ref_bins = np.bincount(np.searchsorted(inner, ref, side="left"), minlength=len(inner) + 1)
    cur_bins = np.bincount(np.searchsorted(inner, cur, side="left"), minlength=len(inner) + 1)
    return _psi(_shares(ref_bins.tolist()), _shares(cur_bins.tolist()))


def psi_categorical(reference: Sequence[object], current: Sequence[object]) -> float:
    """Population stability index over the categories seen in either sample."""
    ref, cur = Counter(reference), Counter(current)
    if not ref or not cur:
        return float("nan")
    keys = sorted(set(ref) | set(cur), key=str)
    return _psi(_shares([ref[k] for k in keys]), _shares([cur[k] for k in keys]))


def check_drift(
    data: table.Table, *, reference: table.Table, max_drift: float | None, skip: Sequence[str] = ()
) -> list[CheckResult]:
    """Each column both tables share (but `skip`) must not drift (PSI) further than `max_drift`.

    Without `max_drift` the drift is measured and reported but bounds nothing.
    """
    out = []
    for name in data.names:
        if name not in reference or name in skip:
            continue
        cur, ref = data[name], reference[name]
        if cur.is_numeric and ref.is_numeric:
            value = psi_numeric(ref.numbers, cur.numbers)
        else:
            value = psi_categorical(list(ref.text[~ref.missing]), list(cur.text[~cur.missing]))
        out.append(
            results.bounded(
                f"data.drift.{name}",
                value=value,
                max=max_drift,
                what=f"drift (PSI) of column {name} from the reference",
            )
        )
    return out
