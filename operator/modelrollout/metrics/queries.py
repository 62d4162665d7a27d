"""PromQL for the built-in metrics over the model server's metrics contract, and query templating.

Pure: the Prometheus provider renders these and sends them. Custom queries use `{{namespace}}`,
`{{model}}`, `{{version}}`, `{{track}}` and `{{interval}}` (spaces inside the braces allowed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from modelrollout import api
from modelrollout.metrics import provider

# Every built-in query selects by the labels the model server sets on its own series; `<sel>`
# stands for that selector in the templates below.
_SELECTOR = 'namespace="{{namespace}}",model="{{model}}",version="{{version}}",track="{{track}}"'


def _q(template: str) -> str:
    return template.replace("<sel>", _SELECTOR)


def _matching(label: str, pattern: str | None) -> str:
    return "" if pattern is None else f',{label}=~"{pattern}"'


def _value_query(b: api.Builtin) -> str:
    if b.quantile is not None:
        scale = "" if b.scale == 1.0 else f" * {b.scale:g}"
        return _q(
            f"histogram_quantile({b.quantile:g}, sum by (le) "
            f"(rate({b.series}_bucket{{<sel>}}[{{{{interval}}}}]))){scale}"
        )
    # `or vector(0)`: a numerator whose series never appeared (no 5xx yet, no correct feedback yet)
    # is zero, not "no data"; the denominator alone decides whether there is data at all.
    success = _matching(b.group_label, b.successes)
    trials = _matching(b.group_label, b.trials)
    return _q(
        f"(sum(increase({b.series}{{<sel>{success}}}[{{{{interval}}}}])) or vector(0))"
        f" / sum(increase({b.series}{{<sel>{trials}}}[{{{{interval}}}}]))"
    )


@dataclass(frozen=True)
class CountQuery:
    """The raw series a count is computed from, and how each series' labels classify it."""

    series: str
    """A selector for the counter series; the provider reads its samples over the window."""
    group_label: str
    """outcome (feedback), code (requests) or le (histogram buckets)."""


def _count_query(b: api.Builtin) -> CountQuery:
    if b.quantile is not None:
        return CountQuery(_q(f"{b.series}_bucket{{<sel>}}"), b.group_label)
    return CountQuery(_q(f"{b.series}{{<sel>{_matching(b.group_label, b.trials)}}}"), b.group_label)


# Built from api/builtin.py, which says what each built-in metric means.
VALUE_QUERIES = {b.name: _value_query(b) for b in api.BUILTINS.values()}
PROPORTION_QUERIES = {b.name: _count_query(b) for b in api.BUILTINS.values() if b.quantile is None}
HISTOGRAM_QUERIES = {
    b.name: _count_query(b) for b in api.BUILTINS.values() if b.quantile is not None
}

PLACEHOLDERS = ("namespace", "model", "version", "track", "interval")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def is_success(metric: str, group: str) -> bool:
    """Whether a series with this group label value counts as a success for a proportion metric."""
    pattern = api.BUILTINS[metric].successes
    # PromQL's =~ is anchored at both ends: fullmatch reads the pattern as the query does.
    return pattern is not None and re.fullmatch(pattern, group) is not None


def promql_duration(interval: timedelta) -> str:
    """A PromQL range duration: whole seconds as `90s`, otherwise milliseconds."""
    ms = round(interval.total_seconds() * 1000)
    if ms <= 0:
        raise ValueError(f"the analysis interval must be positive, got {interval}; set e.g. 30s")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def render(template: str, scope: provider.Scope) -> str:
    """Fill the placeholders; an unknown one is an error naming it and the known ones."""
    values = {
        "namespace": _label_value(scope.namespace),
        "model": _label_value(scope.model),
        "version": _label_value(scope.version),
        "track": _label_value(scope.track),
        "interval": promql_duration(scope.interval),
    }
    unknown = sorted({m for m in _PLACEHOLDER.findall(template) if m not in values})
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join('{{' + u + '}}' for u in unknown)}; "
            f"the query may use {', '.join('{{' + p + '}}' for p in PLACEHOLDERS)}"
        )
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _label_value(value: str) -> str:
    # Values land inside PromQL double quotes; escape as Go string literals do.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
