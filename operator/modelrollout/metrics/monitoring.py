"""Reads the promoted stable's figures for spec.monitoring from Prometheus: live input bins and the
reference's shares (the model server's model_input_* series) and feedback over the window.
Called by the controller; the judging is analysis.monitor's."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from modelrollout.analysis import monitor
from modelrollout.metrics import prometheus, provider, queries

_SELECTOR = 'namespace="{ns}",model="{model}",version="{version}",track="stable"'


def read(
    prov: prometheus.PrometheusProvider,
    *,
    namespace: str,
    model: str,
    version: str,
    window: timedelta,
) -> monitor.Figures:
    """The stable's figures over `window`; raises the provider's errors when Prometheus fails."""
    sel = _SELECTOR.format(ns=namespace, model=model, version=version)
    span = queries.promql_duration(window)
    live = _by_bin(
        prov, f"sum by (feature, bin) (increase(model_input_bin_total{{{sel}}}[{span}]))"
    )
    reference = _by_bin(prov, f"max by (feature, bin) (model_input_reference_share{{{sel}}})")
    rows = _vector(prov, f"max(model_input_reference_rows{{{sel}}})")
    outcomes = _vector(prov, f"sum by (outcome) (increase(model_feedback_total{{{sel}}}[{span}]))")
    counts = {labels.get("outcome", ""): value for labels, value in outcomes}
    # A bin with no live series yet counted nothing: the live side has the reference's bins.
    for feature, ref in reference.items():
        have = live.get(feature, [])
        live[feature] = have + [0.0] * (len(ref) - len(have))
    return monitor.Figures(
        reference=reference,
        live=live,
        # A model server from before the gauge: the reference's shares are taken as exact.
        reference_rows=rows[0][1] if rows and rows[0][1] > 0 else None,
        correct=counts.get("correct", 0.0),
        incorrect=counts.get("incorrect", 0.0),
    )


def _by_bin(prov: prometheus.PrometheusProvider, promql: str) -> dict[str, list[float]]:
    samples = []
    for labels, value in _vector(prov, promql):
        try:
            index = int(labels.get("bin", ""))
        except ValueError as e:
            raise provider.BadQuery(
                f"a series of {promql} has a bin label that is not a number: {labels}",
                query=promql,
                address=prov.address,
            ) from e
        samples.append((labels.get("feature", ""), index, value))
    return monitor.bins_by_feature(samples)


def _vector(prov: prometheus.PrometheusProvider, promql: str) -> list[tuple[dict[str, str], float]]:
    data = prov.query(promql)
    out: list[tuple[dict[str, str], float]] = []
    for item in data.get("result") or []:
        raw: Any = (item.get("value") or [None, "nan"])[1]
        value = float(raw)
        out.append((dict(item.get("metric") or {}), 0.0 if math.isnan(value) else value))
    return out
