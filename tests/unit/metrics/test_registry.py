"""Choosing a metric provider from spec.analysis.provider: explicit, never a silent fallback."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from modelrollout import api
from modelrollout.metrics import http_json, prometheus, registry

pytestmark = pytest.mark.unit


def analysis(**fields: Any) -> api.AnalysisSpec:
    return api.AnalysisSpec.model_validate(
        {"metrics": [{"name": "error_rate", "max": 0.01}], **fields}
    )


def test_every_provider_the_api_names_has_a_module_and_no_other() -> None:
    assert registry.names() == api.METRIC_PROVIDERS


def test_prometheus_is_the_default_and_reads_from_its_address() -> None:
    spec = analysis(prometheus={"address": "http://prom:9090"})
    assert spec.provider == "prometheus"
    choice = registry.choose(spec)
    assert choice == registry.Choice(name="prometheus", address="http://prom:9090")
    built = registry.build(choice)
    try:
        assert isinstance(built, prometheus.PrometheusProvider)
        assert built.address == "http://prom:9090"
    finally:
        built.close()


def test_the_http_provider_reads_from_its_url() -> None:
    spec = analysis(provider="http", http={"url": "http://metrics:8080/measure"})
    choice = registry.choose(spec)
    assert choice == registry.Choice(name="http", address="http://metrics:8080/measure")
    built = registry.build(choice)
    try:
        assert isinstance(built, http_json.HttpJsonProvider)
    finally:
        built.close()


def test_a_provider_without_its_settings_is_refused_naming_them() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"prometheus: .*prometheus\.address"):
        analysis(provider="prometheus")


def test_a_provider_the_api_does_not_name_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="provider"):
        analysis(provider="datadog", prometheus={"address": "http://prom:9090"})


def test_a_name_the_api_grew_without_a_module_is_an_error_never_prometheus() -> None:
    spec = analysis(prometheus={"address": "http://prom:9090"}).model_copy(
        update={"provider": "datadog"}
    )
    with pytest.raises(
        registry.ProviderChoiceError, match=r"'datadog' has no provider.*prometheus"
    ):
        registry.choose(spec)
