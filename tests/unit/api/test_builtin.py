"""The table of built-in metrics is what the API rules, the queries and the judge all read."""

from __future__ import annotations

import pydantic
import pytest

from modelrollout import api
from modelrollout.metrics import queries

pytestmark = pytest.mark.unit

MARGINS = {"max_drop": 0.01, "max_increase": 0.01, "max_increase_ratio": 0.1}


@pytest.mark.parametrize("builtin", api.BUILTINS.values(), ids=lambda b: b.name)
@pytest.mark.parametrize("margin", MARGINS)
def test_a_built_in_metric_compares_only_with_the_margins_its_table_row_names(
    builtin: api.Builtin, margin: str
) -> None:
    metric = {"name": builtin.name, "compare": {pydantic.alias_generators.to_camel(margin): 0.01}}
    if margin in builtin.margins:
        api.MetricSpec.model_validate(metric)
    else:
        with pytest.raises(pydantic.ValidationError, match=builtin.margin_hint.split(":")[0]):
            api.MetricSpec.model_validate(metric)


@pytest.mark.parametrize("builtin", api.BUILTINS.values(), ids=lambda b: b.name)
def test_each_query_reads_the_series_its_table_row_names(builtin: api.Builtin) -> None:
    assert builtin.series in queries.VALUE_QUERIES[builtin.name]
    counts = {**queries.PROPORTION_QUERIES, **queries.HISTOGRAM_QUERIES}[builtin.name]
    assert counts.series.startswith(builtin.series)
    assert counts.group_label == builtin.group_label


def test_the_success_rule_is_the_table_s_pattern_read_as_promql_reads_it() -> None:
    assert queries.is_success("accuracy", "correct")
    assert not queries.is_success("accuracy", "incorrect")
    assert queries.is_success("error_rate", "503")
    assert not queries.is_success("error_rate", "200")
    assert not queries.is_success("error_rate", "5000")
