"""PromQL for the built-in metrics over the model server's metrics contract, and query templating.

Pure: the Prometheus provider renders these and sends them. Custom queries use `{{namespace}}`,
`{{model}}`, `{{version}}`, `{{track}}` and `{{interval}}` (spaces inside the braces allowed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from modelrollout.metrics import provider

# Every built-in query selects by the labels the model server sets on its own series; `<sel>`
# stands for that selector in the templates below.
_SELECTOR = 'namespace="{{namespace}}",model="{{model}}",version="{{version}}",track="{{track}}"'


def _q(template: str) -> str:
    return template.replace("<sel>", _SELECTOR)


# `or vector(0)`: a numerator whose series never appeared (no 5xx yet, no correct feedback yet) is
# zero, not "no data"; the denominator alone decides whether there is data at all.
VALUE_QUERIES = {
    "accuracy": _q(
        '(sum(increase(model_feedback_total{<sel>,outcome="correct"}[{{interval}}])) or vector(0))'
        ' / sum(increase(model_feedback_total{<sel>,outcome=~"correct|incorrect"}[{{interval}}]))'
    ),
    "error_rate": _q(
        '(sum(increase(model_requests_total{<sel>,code=~"5.."}[{{interval}}])) or vector(0))'
        " / sum(increase(model_requests_total{<sel>}[{{interval}}]))"
    ),
    "latency_p99_ms": _q(
        "histogram_quantile(0.99, sum by (le) "
        "(rate(model_request_duration_seconds_bucket{<sel>}[{{interval}}]))) * 1000"
    ),
}


@dataclass(frozen=True)
class CountQuery:
    """The raw series a count is computed from, and how each series' labels classify it."""

    series: str
    """A selector for the counter series; the provider reads its samples over the window."""
    group_label: str
    """outcome (feedback), code (requests) or le (histogram buckets)."""


PROPORTION_QUERIES = {
    # successes = correct feedback; trials = all judged feedback.
    "accuracy": CountQuery(
        _q('model_feedback_total{<sel>,outcome=~"correct|incorrect"}'), "outcome"
    ),
    # successes = 5xx responses (the event whose rate is judged, lower is better); trials = all.
    "error_rate": CountQuery(_q("model_requests_total{<sel>}"), "code"),
}
HISTOGRAM_QUERIES = {
    "latency_p99_ms": CountQuery(_q("model_request_duration_seconds_bucket{<sel>}"), "le")
}

PLACEHOLDERS = ("namespace", "model", "version", "track", "interval")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def is_success(metric: str, group: str) -> bool:
    """Whether a series with this group label value counts as a success for a proportion metric."""
    if metric == "accuracy":
        return group == "correct"
    return group.startswith("5")


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
