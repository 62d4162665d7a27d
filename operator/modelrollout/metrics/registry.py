"""Choose the metric provider spec.analysis.provider names, and build it from its settings.

An explicit table, as traffic/registry.py is for routers: a provider name the API accepts without a
module here is an error naming it, never a silent fallback to Prometheus (Flagger's factory does
that: don't). A second provider is one module and one line in _PROVIDERS (and its name in the API).
Called by the controller when it parses a spec (`choose`) and when a round is due (`build`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelrollout import api
from modelrollout.metrics import http_json, prometheus, provider


@dataclass(frozen=True)
class Choice:
    """The provider a spec names and where it reads from: one client serves each distinct Choice."""

    name: str
    address: str


@dataclass(frozen=True)
class _Entry:
    address: Callable[[api.AnalysisSpec], str | None]
    """Where the provider reads from, taken from its settings in spec.analysis (None: not set)."""
    build: Callable[[str], provider.MetricProvider]


def _prometheus_address(analysis: api.AnalysisSpec) -> str | None:
    return analysis.prometheus.address if analysis.prometheus is not None else None


def _http_address(analysis: api.AnalysisSpec) -> str | None:
    return analysis.http.url if analysis.http is not None else None


_PROVIDERS: dict[str, _Entry] = {
    "prometheus": _Entry(address=_prometheus_address, build=prometheus.PrometheusProvider),
    "http": _Entry(address=_http_address, build=http_json.HttpJsonProvider),
}


class ProviderChoiceError(ValueError):
    """spec.analysis names a provider this operator cannot build: a spec error, nothing is measured."""


def names() -> tuple[str, ...]:
    """The providers this operator has a module for, as spec.analysis.provider spells them."""
    return tuple(_PROVIDERS)


def choose(analysis: api.AnalysisSpec) -> Choice:
    """The provider spec.analysis.provider names, with its address; raises ProviderChoiceError."""
    entry = _PROVIDERS.get(analysis.provider)
    if entry is None:
        raise ProviderChoiceError(
            f"spec.analysis.provider {analysis.provider!r} has no provider in this operator "
            f"version; use one of {', '.join(names())}, or upgrade the operator"
        )
    address = entry.address(analysis)
    if address is None:
        raise ProviderChoiceError(
            f"spec.analysis.provider is {analysis.provider} but spec.analysis.{analysis.provider} "
            "is not set: give the provider's settings (e.g. its address)"
        )
    return Choice(name=analysis.provider, address=address)


def build(choice: Choice) -> provider.MetricProvider:
    """A new client for the chosen provider; the caller closes it."""
    return _PROVIDERS[choice.name].build(choice.address)
