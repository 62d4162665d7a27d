"""The stable's check at the edge, on Prometheus answers given by a mock transport: the figures it
reads, the alert's Event and webhook body, and what a failing webhook or Prometheus leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from modelrollout import api
from modelrollout.controller import monitoring
from modelrollout.metrics import monitoring as readings
from modelrollout.metrics import prometheus

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
SPEC = api.ModelDeploymentSpec.model_validate(
    {
        "model": {"name": "iris", "version": "1", "uri": "file:///m"},
        "validation": {"dataset": {"uri": "file:///d.csv", "target": "species"}},
        "analysis": {
            "prometheus": {"address": "http://prom:9090"},
            "metrics": [{"name": "accuracy", "min": 0.9}],
        },
        "monitoring": {
            "interval": "15s",
            "window": "1m",
            "drift": {"minSamples": 50},
            "webhook": {"url": "http://hook.example/drift"},
        },
    }
)
STATUS = api.ModelDeploymentStatus.model_validate({"phase": "Healthy", "stableVersion": "1"})


def vector(*series: tuple[dict[str, str], float]) -> dict[str, Any]:
    result = [{"metric": labels, "value": [0, str(value)]} for labels, value in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def bins(feature: str, values: list[float]) -> list[tuple[dict[str, str], float]]:
    return [({"feature": feature, "bin": str(i)}, v) for i, v in enumerate(values)]


def answers(request: httpx.Request) -> httpx.Response:
    query = dict(httpx.QueryParams(request.content.decode()))["query"]
    assert 'version="1",track="stable"' in query, query
    if "model_input_bin_total" in query:
        # The last bin of sepal_width has no series yet: it counted nothing.
        return httpx.Response(200, json=vector(*bins("petal_length", [0, 0, 0, 200]),
                                               *bins("sepal_width", [70, 70, 60])))  # fmt: skip
    if "model_input_reference_share" in query:
        return httpx.Response(
            200, json=vector(*bins("petal_length", [0.25] * 4), *bins("sepal_width", [0.25] * 4))
        )
    if "model_input_reference_rows" in query:
        return httpx.Response(200, json=vector(({}, 1000)))
    assert "model_feedback_total" in query, query
    return httpx.Response(200, json=vector(({"outcome": "correct"}, 90), ({"outcome": "incorrect"}, 10)))  # fmt: skip


def provider(handler: Any = answers) -> prometheus.PrometheusProvider:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return prometheus.PrometheusProvider("http://prom:9090", client=client)


def test_the_figures_have_every_reference_bin() -> None:
    figures = readings.read(
        provider(), namespace="ml", model="iris", version="1", window=timedelta(minutes=1)
    )
    assert figures.live["sepal_width"] == [70, 70, 60, 0]
    assert figures.reference["petal_length"] == [0.25] * 4
    assert figures.reference_rows == 1000
    assert (figures.correct, figures.incorrect) == (90, 10)


def test_an_alert_is_a_warning_event_and_one_webhook_body() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    status, events = monitoring.check(
        prov=provider(), spec=SPEC, status=STATUS, name="iris-md", namespace="ml",
        generation=1, now=NOW, post=lambda url, body, timeout: sent.append((url, body)),
    )  # fmt: skip
    assert [(e.reason, e.type) for e in events] == [("DriftDetected", "Warning")]
    assert "petal_length" in events[0].message
    assert [url for url, _ in sent] == ["http://hook.example/drift"]
    body = sent[0][1]
    assert {k: body[k] for k in ("modelDeployment", "namespace", "model", "version")} == {
        "modelDeployment": "iris-md", "namespace": "ml", "model": "iris", "version": "1"
    }  # fmt: skip
    assert (body["condition"], body["metric"], body["feature"]) == (
        "Drifting",
        "psi",
        "petal_length",
    )
    assert body["value"] > 0.25
    assert status.monitoring is not None
    assert status.monitoring.drift[0].feature == "petal_length"


def test_a_failing_webhook_is_a_warning_event_and_the_condition_still_set() -> None:
    def refuse(url: str, body: dict[str, Any], timeout: float) -> None:
        raise httpx.ConnectError("connection refused")

    status, events = monitoring.check(
        prov=provider(), spec=SPEC, status=STATUS, name="iris", namespace="ml",
        generation=1, now=NOW, post=refuse,
    )  # fmt: skip
    assert [e.reason for e in events] == ["DriftDetected", "WebhookFailed"]
    assert "http://hook.example/drift" in events[1].message
    assert {c.type: c.status for c in status.conditions}["Drifting"] == "True"


def test_prometheus_down_says_so_and_alerts_nothing() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    status, events = monitoring.check(
        prov=provider(down), spec=SPEC, status=STATUS, name="iris", namespace="ml",
        generation=1, now=NOW, post=lambda *a: pytest.fail("no webhook without figures"),
    )  # fmt: skip
    assert events == []
    assert status.conditions == []
    assert status.monitoring is not None
    assert "could not be reached" in status.monitoring.message
