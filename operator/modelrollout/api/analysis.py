"""`spec.analysis`: the online checks a metric provider (Prometheus by default) runs during analysis steps."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator
from pydantic.alias_generators import to_camel

from modelrollout.api import builtin
from modelrollout.api.base import PositiveDuration, Rule, SpecModel, exactly_one, min_not_above_max

# Names the operator knows a query for (api/builtin.py says what each means); anything else needs
# `query`. The comparison with the stable needs counts too, which only these have.
BUILTIN_METRICS = tuple(builtin.BUILTINS)
_BUILTIN_CEL = "[" + ", ".join(f"'{m}'" for m in BUILTIN_METRICS) + "]"
# Built-in metrics that are shares between 0 and 1 (the judge tests proportions for them).
SHARES = tuple(b.name for b in builtin.BUILTINS.values() if b.unit == "share")
_SHARES_CEL = "[" + ", ".join(f"'{m}'" for m in SHARES) + "]"
_TIMES = tuple(b.name for b in builtin.BUILTINS.values() if b.unit == "ms")
_TIMES_CEL = "[" + ", ".join(f"'{m}'" for m in _TIMES) + "]"
# The metric providers this API version names; metrics/registry.py maps each to its module (a test
# checks the two agree). A provider reads its settings from the sub-object of the same name.
MetricProviderName = Literal["prometheus", "http"]
METRIC_PROVIDERS: tuple[str, ...] = get_args(MetricProviderName)
# The judge's bound on a relative slowdown (analysis/latency.py): 100 is 100 times slower.
MAX_INCREASE_RATIO = 100.0


class PrometheusSpec(SpecModel):
    address: Annotated[str, Field(pattern=r"^https?://[^/\s]+(/\S*)?$", max_length=1024)]
    """Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090."""


class HttpMetricsSpec(SpecModel):
    url: Annotated[str, Field(pattern=r"^https?://[^/\s]+(/\S*)?$", max_length=2048)]
    """The endpoint each measurement is POSTed to as JSON (metrics/http_json.py says the protocol)."""


class MetricComparison(SpecModel):
    """Judge the canary against the stable version over the same interval (sequential test).

    The margin is the regression the test must catch: a canary worse by the margin or more is
    rolled back, one no worse than the stable passes, each wrongly with probability at most
    1 - confidence; a smaller regression can go either way (about even at half the margin)."""

    against: Literal["stable"] = "stable"
    max_drop: Annotated[float, Field(gt=0.0)] | None = None
    """Drop (absolute) the test must catch, for higher-is-better metrics such as accuracy."""
    max_increase: Annotated[float, Field(gt=0.0)] | None = None
    """Increase (absolute, metric units) the test must catch, for lower-is-better metrics."""
    max_increase_ratio: Annotated[float, Field(gt=0.0, le=MAX_INCREASE_RATIO)] | None = None
    """Relative increase the test must catch, e.g. 0.1 for +10% latency (latency only)."""
    confidence: Annotated[
        float,
        Field(ge=0.5, le=0.999),
        # The API server checks a whole number (`confidence: 0`, `1`) against bounds cut to whole
        # numbers, 0 and 0, so it would take 0 and refuse 1 as "above 0": CEL holds the real bounds.
        Rule(
            cel="self >= 0.5 && self <= 0.999",
            message="confidence is a probability from 0.5 to 0.999: write e.g. 0.95",
            check=lambda c: 0.5 <= c <= 0.999,
        ),
    ] = 0.95
    """Probability of neither rolling back a canary as good as the stable nor passing one worse by the margin."""

    rules = (
        exactly_one(
            "max_drop",
            "max_increase",
            "max_increase_ratio",
            message="set exactly one of maxDrop, maxIncrease or maxIncreaseRatio",
        ),
    )


def _margin_rule(metric: builtin.Builtin) -> Rule:
    """The compare margins a built-in metric's sequential test can use (api/builtin.py)."""
    wire = [to_camel(m) for m in metric.margins]
    return Rule(
        cel=f"!has(self.compare) || self.name != '{metric.name}' || "
        + " || ".join(f"has(self.compare.{w})" for w in wire),
        message=metric.margin_hint,
        check=lambda m: (
            m.compare is None
            or m.name != metric.name
            or any(getattr(m.compare, margin) is not None for margin in metric.margins)
        ),
        field_path=".compare",
    )


class MetricSpec(SpecModel):
    """One check: a built-in metric or a PromQL query, with bounds and/or a comparison."""

    name: Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_-]*$", max_length=63)]
    """accuracy, latency_p99_ms and error_rate are built in; other names need a query."""
    query: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    """PromQL returning one number; `{{track}}`, `{{version}}`, `{{namespace}}` and `{{model}}` are filled in."""
    min: float | None = None
    max: float | None = None
    interval: PositiveDuration | None = None
    """The window this metric is computed over (defaults to spec.analysis.interval); a longer one
    suits sparse data such as ground-truth feedback."""
    compare: MetricComparison | None = None

    rules = (
        Rule(
            cel="has(self.min) || has(self.max) || has(self.compare)",
            message="a metric needs min, max or compare to be judged",
            check=lambda m: m.min is not None or m.max is not None or m.compare is not None,
        ),
        Rule(
            cel=f"self.name in {_BUILTIN_CEL} || has(self.query)",
            message="only accuracy, latency_p99_ms and error_rate are built in: "
            "give this metric a PromQL query",
            check=lambda m: m.name in BUILTIN_METRICS or m.query is not None,
            field_path=".query",
        ),
        min_not_above_max(),
        # The built-in queries' units; a metric with its own query has whatever units it returns.
        Rule(
            cel=f"has(self.query) || !(self.name in {_SHARES_CEL}) || "
            "((!has(self.min) || (self.min >= 0.0 && self.min <= 1.0)) && "
            "(!has(self.max) || (self.max >= 0.0 && self.max <= 1.0)))",
            message="accuracy and error_rate are shares between 0 and 1: "
            "write min and max as e.g. 0.9, not 90",
            check=lambda m: (
                m.query is not None
                or m.name not in SHARES
                or all(0.0 <= v <= 1.0 for v in (m.min, m.max) if v is not None)
            ),
        ),
        Rule(
            cel=f"has(self.query) || !(self.name in {_TIMES_CEL}) || "
            "((!has(self.min) || self.min >= 0.0) && (!has(self.max) || self.max >= 0.0))",
            message=f"{' and '.join(_TIMES)} is a time in milliseconds: "
            "min and max must not be negative",
            check=lambda m: (
                m.query is not None
                or m.name not in _TIMES
                or all(v >= 0.0 for v in (m.min, m.max) if v is not None)
            ),
        ),
        # Which margin each built-in comparison can test (metrics/measure.py, analysis/).
        Rule(
            cel=f"!has(self.compare) || self.name in {_BUILTIN_CEL}",
            message="compare against the stable works only for accuracy, error_rate and "
            "latency_p99_ms (it needs their request and feedback counts): "
            "judge this metric with min or max",
            check=lambda m: m.compare is None or m.name in BUILTIN_METRICS,
            field_path=".compare",
        ),
        *(_margin_rule(b) for b in builtin.BUILTINS.values()),
        Rule(
            cel=f"!has(self.compare) || !(self.name in {_SHARES_CEL}) || "
            "((!has(self.compare.maxDrop) || self.compare.maxDrop < 1.0) && "
            "(!has(self.compare.maxIncrease) || self.compare.maxIncrease < 1.0))",
            message="accuracy and error_rate are shares between 0 and 1: a compare margin "
            "must be below 1, e.g. 0.02 for two points",
            check=lambda m: (
                m.compare is None
                or m.name not in SHARES
                or all(
                    v < 1.0 for v in (m.compare.max_drop, m.compare.max_increase) if v is not None
                )
            ),
            field_path=".compare",
        ),
    )


def _settings_rule(provider: MetricProviderName, *, needs: str) -> Rule:
    """The chosen provider's settings, the sub-object named after it, must be set."""
    return Rule(
        cel=f"self.provider != '{provider}' || has(self.{provider})",
        message=f"provider {provider} needs {needs}",
        check=lambda a: a.provider != provider or getattr(a, provider) is not None,
        field_path=f".{provider}",
    )


class AnalysisSpec(SpecModel):
    """Online checks; an analysis step passes after `count` rounds within the limits."""

    provider: MetricProviderName = "prometheus"
    """Where the metrics come from; its settings are the sub-object of the same name."""
    prometheus: PrometheusSpec | None = None
    """Settings of the Prometheus provider (required when provider is prometheus)."""
    http: HttpMetricsSpec | None = None
    """Settings of the plain HTTP JSON provider (required when provider is http)."""
    interval: PositiveDuration = "30s"
    count: Annotated[int, Field(ge=1, le=1000)] = 3
    """Measurement rounds per analysis step (an analysis step may override it)."""
    failure_limit: Annotated[int, Field(ge=0, le=1000)] = 0
    """Failed measurements tolerated; one more fails the analysis."""
    inconclusive_limit: Annotated[int, Field(ge=0, le=1000)] = 3
    """Inconclusive measurements (e.g. no data yet) tolerated; one more pauses for a person."""
    consecutive_error_limit: Annotated[int, Field(ge=0, le=1000)] = 4
    """Errors in a row (Prometheus unreachable, bad query) tolerated; one more fails the analysis."""
    metrics: list[MetricSpec] = Field(
        min_length=1,
        max_length=50,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    rules = (
        _settings_rule("prometheus", needs="its address: set prometheus.address, "
                       "e.g. http://prometheus.monitoring:9090"),
        _settings_rule("http", needs="its endpoint: set http.url, "
                       "e.g. http://metrics.monitoring:8080/measure"),
    )  # fmt: skip

    @model_validator(mode="after")
    def _unique_metric_names(self) -> AnalysisSpec:
        # The CRD enforces this with a list-map keyed by name; Python users get the same rule.
        names = [m.name for m in self.metrics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metrics: names must be unique, repeated: {', '.join(dupes)}")
        return self
