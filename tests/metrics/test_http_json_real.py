"""The HTTP JSON provider against a real HTTP server on loopback, and an analysis round through it.

The server is the smallest metrics service the protocol allows: it answers each POSTed question from
a table keyed by metric and track, and null for what it does not know yet.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelrollout import api
from modelrollout.metrics import http_json, measure, provider, registry

SCOPE = provider.Scope(
    namespace="ml", model="iris", version="2", track="canary", interval=timedelta(seconds=30)
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Service:
    """What the server knows: (kind, metric, track) -> the JSON answer; it records each question."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str, str], Any] = {}
        self.asked: list[dict[str, Any]] = []


@pytest.fixture
def service() -> Iterator[tuple[Service, str]]:
    known = Service()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            question = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            known.asked.append(question)
            key = (question["kind"], question["metric"], question["track"])
            answer = known.answers.get(key, {})
            status, body = (400, b"unknown metric") if answer == "refuse" else (200, b"")
            if status == 200:
                body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield known, f"http://127.0.0.1:{server.server_address[1]}/measure"
    finally:
        server.shutdown()
        server.server_close()


def test_a_value_counts_and_buckets_come_back_as_the_service_says(
    service: tuple[Service, str],
) -> None:
    known, url = service
    known.answers[("value", "queue_depth", "canary")] = {"value": 3.5}
    known.answers[("proportion", "accuracy", "canary")] = {"successes": 90, "trials": 100}
    known.answers[("histogram", "latency_p99_ms", "canary")] = {
        "upperBounds": [
            0.1,
            "+Inf",
        ],  # JSON has no infinity: the last bound as Prometheus writes it
        "cumulativeCounts": [5, 9],
    }
    source = http_json.HttpJsonProvider(url)
    try:
        assert source.value("queue_depth", scope=SCOPE, query="depth") == 3.5
        counts = source.proportion_counts("accuracy", scope=SCOPE)
        assert (counts.successes, counts.trials) == (90, 100)
        buckets = source.histogram_counts("latency_p99_ms", scope=SCOPE)
        assert buckets.cumulative_counts == (5, 9)
    finally:
        source.close()
    assert known.asked[0] == {
        "kind": "value", "metric": "queue_depth", "query": "depth", "namespace": "ml",
        "model": "iris", "version": "2", "track": "canary", "windowSeconds": 30.0,
    }  # fmt: skip


def test_what_the_service_does_not_know_yet_is_no_data(service: tuple[Service, str]) -> None:
    _, url = service
    source = http_json.HttpJsonProvider(url)
    try:
        with pytest.raises(provider.NoData, match="no error_rate for the canary version 2"):
            source.value("error_rate", scope=SCOPE)
        with pytest.raises(provider.NoData):
            source.proportion_counts("error_rate", scope=SCOPE)
        with pytest.raises(provider.NoData):
            source.histogram_counts("latency_p99_ms", scope=SCOPE)
    finally:
        source.close()


def test_a_refusal_is_a_bad_query_and_a_wrong_answer_or_no_server_is_unreachable(
    service: tuple[Service, str],
) -> None:
    known, url = service
    known.answers[("value", "refused", "canary")] = "refuse"
    known.answers[("value", "html", "canary")] = b"<html>login</html>"
    known.answers[("value", "text", "canary")] = {"value": "high"}
    source = http_json.HttpJsonProvider(url)
    try:
        with pytest.raises(provider.BadQuery, match="refused the request"):
            source.value("refused", scope=SCOPE)
        with pytest.raises(provider.ProviderUnreachable, match="without a JSON object"):
            source.value("html", scope=SCOPE)
        with pytest.raises(provider.BadQuery, match="'high', not a number"):
            source.value("text", scope=SCOPE)
    finally:
        source.close()
    gone = http_json.HttpJsonProvider("http://127.0.0.1:9/measure")
    try:
        with pytest.raises(provider.ProviderUnreachable, match=r"spec\.analysis\.http\.url"):
            gone.value("accuracy", scope=SCOPE)
    finally:
        gone.close()


def test_an_analysis_round_through_the_provider_the_spec_names(
    service: tuple[Service, str],
) -> None:
    known, url = service
    known.answers[("value", "error_rate", "canary")] = {"value": 0.002}
    known.answers[("proportion", "accuracy", "canary")] = {"successes": 400, "trials": 500}
    known.answers[("proportion", "accuracy", "stable")] = {"successes": 480, "trials": 500}
    spec = api.ModelDeploymentSpec.model_validate(
        {
            "model": {"name": "iris", "version": "2", "uri": "file:///m/2.skops"},
            "analysis": {
                "provider": "http",
                "http": {"url": url},
                "metrics": [
                    {"name": "error_rate", "max": 0.01},
                    {"name": "accuracy", "compare": {"maxDrop": 0.05}},
                    {"name": "latency_p99_ms", "max": 50},
                ],
            },
        }
    )
    status = api.ModelDeploymentStatus(stable_version="1", canary_version="2")
    assert spec.analysis is not None
    choice = registry.choose(spec.analysis)
    source = registry.build(choice)
    try:
        got = measure.take_round(prov=source, spec=spec, status=status, namespace="ml", now=NOW)
    finally:
        source.close()
    phases = {m.metric: m.phase for m in got}
    assert phases == {
        "error_rate": api.MeasurementPhase.SUCCESSFUL,
        "accuracy": api.MeasurementPhase.FAILED,  # 80% against 96%: worse by far more than 5 points
        "latency_p99_ms": api.MeasurementPhase.INCONCLUSIVE,  # the service has no latency yet
    }
