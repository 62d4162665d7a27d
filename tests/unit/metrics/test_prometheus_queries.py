"""Templating the built-in and custom PromQL: placeholders, windows and label escaping."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelrollout import api
from modelrollout.metrics import provider, queries

pytestmark = pytest.mark.unit

SCOPE = provider.Scope(
    namespace="ml", model="iris", version="2", track="canary", interval=timedelta(seconds=30)
)
SELECTOR = 'namespace="ml",model="iris",version="2",track="canary"'


@pytest.mark.parametrize(
    ("interval", "promql"),
    [
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=2), "120s"),
        (timedelta(milliseconds=1500), "1500ms"),
        (timedelta(hours=1), "3600s"),
    ],
)
def test_windows_become_promql_durations(interval: timedelta, promql: str) -> None:
    assert queries.promql_duration(interval) == promql


def test_a_zero_window_is_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        queries.promql_duration(timedelta(0))


def test_custom_queries_fill_every_placeholder_with_or_without_spaces() -> None:
    template = 'sum(rate(x{namespace="{{namespace}}",model="{{ model }}",version="{{version}}",track="{{track}}"}[{{interval}}]))'
    assert queries.render(template, SCOPE) == f"sum(rate(x{{{SELECTOR}}}[30s]))"


def test_an_unknown_placeholder_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"\{\{pod\}\}.*\{\{namespace\}\}.*\{\{interval\}\}"):
        queries.render('x{pod="{{pod}}"}', SCOPE)


def test_label_values_are_escaped_inside_promql_strings() -> None:
    scope = provider.Scope(
        namespace="ml", model='a"b\\c', version="2", track="stable", interval=timedelta(seconds=5)
    )
    assert queries.render('x{model="{{model}}"}', scope) == 'x{model="a\\"b\\\\c"}'


@pytest.mark.parametrize("metric", ["accuracy", "error_rate", "latency_p99_ms"])
def test_every_built_in_query_selects_the_track_and_version_it_judges(metric: str) -> None:
    rendered = queries.render(queries.VALUE_QUERIES[metric], SCOPE)
    assert SELECTOR in rendered
    assert "[30s]" in rendered
    assert "{{" not in rendered


def test_accuracy_is_correct_over_all_judged_feedback() -> None:
    rendered = queries.render(queries.VALUE_QUERIES["accuracy"], SCOPE)
    numerator, denominator = rendered.split(" / ")
    assert 'outcome=~"correct"' in numerator
    assert "or vector(0)" in numerator  # all-wrong feedback is accuracy 0, not "no data"
    assert 'outcome=~"correct|incorrect"' in denominator


def test_latency_is_the_p99_of_the_duration_histogram_in_milliseconds() -> None:
    rendered = queries.render(queries.VALUE_QUERIES["latency_p99_ms"], SCOPE)
    assert rendered.startswith("histogram_quantile(0.99, sum by (le) (rate(")
    assert "model_request_duration_seconds_bucket{" in rendered
    assert rendered.endswith(" * 1000")


@pytest.mark.parametrize(
    ("metric", "group", "success"),
    [
        ("accuracy", "correct", True),
        ("accuracy", "incorrect", False),
        ("error_rate", "503", True),
        ("error_rate", "500", True),
        ("error_rate", "200", False),
        ("error_rate", "404", False),
    ],
)
def test_successes_are_correct_feedback_or_server_errors(
    metric: str, group: str, success: bool
) -> None:
    assert queries.is_success(metric, group) is success


@pytest.mark.parametrize(
    ("metric_interval", "window"),
    [
        (None, timedelta(seconds=45)),
        ("2m", timedelta(minutes=2)),
        ("1500ms", timedelta(seconds=1.5)),
    ],
)
def test_a_metric_reads_its_own_interval_or_else_the_analysis_interval(
    metric_interval: str | None, window: timedelta
) -> None:
    analysis = api.AnalysisSpec.model_validate(
        {
            "prometheus": {"address": "http://prom:9090"},
            "interval": "45s",
            "metrics": [{"name": "accuracy", "min": 0.9, "interval": metric_interval}],
        }
    )
    scope = provider.scope_for(
        analysis=analysis,
        metric=analysis.metrics[0],
        namespace="ml",
        model="iris",
        version="2",
        track="canary",
    )
    assert scope == provider.Scope("ml", "iris", "2", "canary", window)
