"""Reading Prometheus' query results: one number from a scalar or vector, exact counts from samples.

Pure; the Prometheus provider hands it the decoded `data` of /api/v1/query answers. Errors are the
provider's typed errors, so each message names the query and the address.
"""

# Prometheus answers "NaN", "+Inf" and "-Inf" as sample values. A NaN metric is 0/0, nothing
# counted in the window yet: NoData (Inconclusive). An infinite one is a division of something by
# zero or a quantile past the last bucket: no threshold can judge it, so BadQuery (an Error that
# a person must look at), never a pass. A counter or bucket count is never NaN or infinite, so
# there either one is a broken exporter: BadQuery too.

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelrollout.metrics import provider

Labels = tuple[tuple[str, str], ...]


def single_value(data: Mapping[str, Any], *, query: str, address: str) -> float:
    """The one number a metric query must return; NoData for no series or NaN."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        value = _number(result, query=query, address=address)
    elif kind == "vector":
        series = list(result or [])
        if not series:
            raise provider.NoData(
                f"query returned no series from Prometheus at {address}: no traffic or feedback "
                f"in the window yet, or its labels match nothing (check them in the Prometheus UI); "
                f"query: {query}",
                query=query,
                address=address,
            )
        if len(series) > 1:
            shown = "; ".join(_show(s.get("metric", {})) for s in series[:3])
            raise provider.BadQuery(
                f"query returned {len(series)} series from Prometheus at {address} ({shown}"
                f"{'; ...' if len(series) > 3 else ''}) but a metric must be one number: aggregate "
                f"with sum(...) or narrow the selector; query: {query}",
                query=query,
                address=address,
            )
        value = _number(series[0].get("value"), query=query, address=address)
    else:
        hint = "drop the [range] or wrap it in rate()/increase()" if kind == "matrix" else ""
        raise provider.BadQuery(
            f"query returned a {kind} from Prometheus at {address}, not a number"
            f"{': ' + hint if hint else ''}; query: {query}",
            query=query,
            address=address,
        )
    if math.isnan(value):
        raise provider.NoData(
            f"query is NaN at Prometheus {address} (e.g. 0/0: nothing counted in the window yet); "
            f"query: {query}",
            query=query,
            address=address,
        )
    if math.isinf(value):
        raise provider.BadQuery(
            f"query is {_spelled(value)} at Prometheus {address}, which no threshold can judge: it divides "
            "a count by zero (guard the denominator, e.g. `/ (x > 0)`), or histogram_quantile "
            f"fell past the last finite bucket (add a larger bucket); query: {query}",
            query=query,
            address=address,
        )
    return value


def series_samples(
    data: Mapping[str, Any], *, query: str, address: str
) -> dict[Labels, list[float]]:
    """Each series' sample values, oldest first, from a vector (one each) or a matrix result."""
    kind = data.get("resultType")
    if kind not in {"vector", "matrix"}:
        raise provider.BadQuery(
            f"expected series from Prometheus at {address}, got a {kind}; query: {query}",
            query=query,
            address=address,
        )
    out: dict[Labels, list[float]] = {}
    for series in data.get("result") or []:
        points = series.get("values", []) if kind == "matrix" else [series.get("value")]
        labels = tuple(sorted(series.get("metric", {}).items()))
        values = [_number(p, query=query, address=address) for p in points]
        broken = [v for v in values if not math.isfinite(v)]
        if broken:
            raise provider.BadQuery(
                f"series {_show(dict(labels))} from Prometheus at {address} has a {_spelled(broken[0])} "
                "sample, which a counter never has: check the exporter or the recording rule "
                f"behind it; query: {query}",
                query=query,
                address=address,
            )
        out[labels] = values
    return out


def exact_increase(baseline: float | None, values: Iterable[float]) -> float:
    """How much a counter grew over the window, from its samples, without extrapolation.

    increase() extrapolates to the window's edges and drops the first sample of a series born in
    the window, which would inflate or lose counts a statistical test relies on. Here a series with
    no sample before the window started from zero, and a drop is a restart from zero.
    """
    previous = 0.0 if baseline is None else baseline
    total = 0.0
    for value in values:
        total += value - previous if value >= previous else value
        previous = value
    return total


def grouped_increase(
    *,
    window: Mapping[Labels, Sequence[float]],
    baseline: Mapping[Labels, Sequence[float]],
    group_label: str,
    query: str,
    address: str,
) -> dict[str, float]:
    """Exact increase per value of group_label (outcome, code, le), summed over series."""
    totals: dict[str, float] = {}
    for labels, values in window.items():
        group = dict(labels).get(group_label)
        if group is None:
            raise provider.BadQuery(
                f"series {_show(dict(labels))} from Prometheus at {address} has no {group_label!r} "
                f"label, which the metrics contract requires; query: {query}",
                query=query,
                address=address,
            )
        before = baseline.get(labels)
        totals[group] = totals.get(group, 0.0) + exact_increase(
            before[-1] if before else None, values
        )
    huge = sorted(group for group, total in totals.items() if not math.isfinite(total))
    if huge:
        # Finite samples near the float limit can still add up past it.
        raise provider.BadQuery(
            f"the {group_label}={huge[0]!r} counts from Prometheus at {address} add up past the "
            f"largest number a float holds: the counters are corrupt; query: {query}",
            query=query,
            address=address,
        )
    return totals


def _number(point: Any, *, query: str, address: str) -> float:
    try:
        return float(point[1])
    except (TypeError, ValueError, IndexError, KeyError) as e:
        raise provider.ProviderUnreachable(
            f"Prometheus at {address} answered with a sample that is not [time, value] ({point!r}): "
            f"is the address a Prometheus API? query: {query}",
            query=query,
            address=address,
        ) from e


def _spelled(value: float) -> str:
    """A non-finite value as Prometheus writes it, so the message matches what its UI shows."""
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def _show(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
