"""The Prometheus provider against Debian's real Prometheus scraping a contract exporter with known values.

One Prometheus and one in-process exporter per module, scraping every second; the values are set
after the first scrape, so increase() and rate() see them change as they would in a live canary.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import prometheus_client as pc
import pytest

from modelrollout.analysis import compare
from modelrollout.metrics import prometheus, provider
from testbed import paths

# The test bed's own Prometheus (built by testbed/build-binaries.sh, which `make test` runs first).
PROMETHEUS = str(paths.BIN / "prometheus")
LABELS = ("model", "version", "track", "namespace")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
WINDOW = timedelta(minutes=1)


def scope(track: provider.Track, version: str = "2") -> provider.Scope:
    return provider.Scope(
        namespace="ml", model="iris", version=version, track=track, interval=WINDOW
    )


@dataclass
class Bed:
    url: str
    prom: prometheus.PrometheusProvider


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], bool], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, provider.ProviderError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Exporter:
    """The model server's metrics contract, with values the test sets."""

    def __init__(self) -> None:
        self.registry = pc.CollectorRegistry()
        self.requests = pc.Counter(
            "model_requests", "requests", [*LABELS, "code"], registry=self.registry
        )
        self.duration = pc.Histogram(
            "model_request_duration_seconds",
            "latency",
            LABELS,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.feedback = pc.Counter(
            "model_feedback", "feedback", [*LABELS, "outcome"], registry=self.registry
        )
        self.port = free_port()
        self.server, self.thread = pc.start_http_server(
            self.port, addr="127.0.0.1", registry=self.registry
        )

    def at(self, track: str, version: str = "2") -> dict[str, str]:
        return {"model": "iris", "version": version, "track": track, "namespace": "ml"}

    def create_series(self) -> None:
        """Series at zero, as a server that just started exports them."""
        for track in ("canary", "stable"):
            for outcome in ("correct", "incorrect"):
                self.feedback.labels(**self.at(track), outcome=outcome)
            for code in ("200", "503"):
                self.requests.labels(**self.at(track), code=code)
            self.duration.labels(**self.at(track))
        for outcome in ("correct", "incorrect"):  # version 3: no feedback yet, so 0/0
            self.feedback.labels(**self.at("canary", "3"), outcome=outcome)

    def set_known_values(self) -> None:
        canary, stable = self.at("canary"), self.at("stable")
        self.feedback.labels(**canary, outcome="correct").inc(90)
        self.feedback.labels(**canary, outcome="incorrect").inc(10)
        self.feedback.labels(**stable, outcome="correct").inc(95)
        self.feedback.labels(**stable, outcome="incorrect").inc(5)
        self.requests.labels(**canary, code="200").inc(95)
        self.requests.labels(**canary, code="503").inc(5)
        self.requests.labels(**stable, code="200").inc(200)
        # Born after the first scrape with a value already: only exact counting sees these 3.
        self.requests.labels(**stable, code="500").inc(3)
        for _ in range(98):
            self.duration.labels(**canary).observe(0.003)
        for _ in range(2):
            self.duration.labels(**canary).observe(0.07)
        for _ in range(100):
            self.duration.labels(**stable).observe(0.003)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    if not Path(PROMETHEUS).exists():
        pytest.fail(
            f"{PROMETHEUS} is missing: build it with `bash testbed/build-binaries.sh prometheus`"
        )
    tmp = tmp_path_factory.mktemp("prometheus")
    exporter = Exporter()
    exporter.create_series()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: model-server\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n"
    )
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    prom = prometheus.PrometheusProvider(url, timeout=timedelta(seconds=5))
    try:
        wait_for("Prometheus to be ready", lambda: httpx.get(f"{url}/-/ready").status_code == 200)

        def scraped(query: str, value: float) -> Callable[[], bool]:
            return lambda: any(float(s["value"][1]) == value for s in prom.query(query)["result"])

        wait_for(
            "the first scrape",
            scraped('model_feedback_total{outcome="correct",track="canary",version="2"}', 0),
        )
        exporter.set_known_values()
        wait_for("the known values to be scraped", scraped('model_requests_total{code="500"}', 3))
        # One more scrape after the change, so every series has a sample with its final value.
        wait_for(
            "a scrape after the change",
            scraped('count_over_time(model_requests_total{code="500"}[1m])', 2),
        )
        yield Bed(url=url, prom=prom)
    finally:
        prom.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        exporter.close()


def test_accuracy_is_correct_over_all_feedback_per_track(bed: Bed) -> None:
    assert bed.prom.value("accuracy", scope=scope("canary")) == pytest.approx(0.90, rel=1e-9)
    assert bed.prom.value("accuracy", scope=scope("stable")) == pytest.approx(0.95, rel=1e-9)


def test_latency_p99_is_read_from_the_histogram_in_milliseconds(bed: Bed) -> None:
    # 98 requests at 3 ms and 2 at 70 ms: rank 99 falls halfway into the (50, 100] ms bucket.
    assert bed.prom.value("latency_p99_ms", scope=scope("canary")) == pytest.approx(75.0, rel=1e-9)
    assert bed.prom.value("latency_p99_ms", scope=scope("stable")) == pytest.approx(4.95, rel=1e-9)


def test_error_rate_is_server_errors_over_all_requests(bed: Bed) -> None:
    assert bed.prom.value("error_rate", scope=scope("canary")) == pytest.approx(0.05, rel=1e-9)


def test_a_custom_query_is_templated_for_the_track(bed: Bed) -> None:
    query = 'sum(model_feedback_total{namespace="{{namespace}}",version="{{version}}",track="{{track}}"})'
    assert bed.prom.value("feedback", scope=scope("canary"), query=query) == 100.0


def test_proportion_counts_are_exact_feedback_and_request_counts(bed: Bed) -> None:
    assert bed.prom.proportion_counts(
        "accuracy", scope=scope("canary")
    ) == compare.ProportionCounts(90, 100)
    assert bed.prom.proportion_counts(
        "error_rate", scope=scope("canary")
    ) == compare.ProportionCounts(5, 100)
    # The 500 series appeared with a value of 3 already: counted from zero, not dropped.
    assert bed.prom.proportion_counts(
        "error_rate", scope=scope("stable")
    ) == compare.ProportionCounts(3, 203)


def test_histogram_counts_are_the_cumulative_buckets_with_inf_last(bed: Bed) -> None:
    counts = bed.prom.histogram_counts("latency_p99_ms", scope=scope("canary"))
    assert counts.upper_bounds == (*BUCKETS, float("inf"))
    assert counts.cumulative_counts == (98, 98, 98, 98, 100, 100, 100, 100, 100)


def test_a_version_without_series_is_no_data(bed: Bed) -> None:
    with pytest.raises(provider.NoData, match="no series"):
        bed.prom.value("accuracy", scope=scope("canary", version="9"))
    with pytest.raises(provider.NoData, match="no accuracy series"):
        bed.prom.proportion_counts("accuracy", scope=scope("canary", version="9"))


def test_series_without_any_feedback_in_the_window_are_no_data_not_a_pass(bed: Bed) -> None:
    with pytest.raises(provider.NoData, match="NaN"):
        bed.prom.value("accuracy", scope=scope("canary", version="3"))


def test_a_syntax_error_is_a_bad_query_with_prometheus_own_words(bed: Bed) -> None:
    with pytest.raises(provider.BadQuery, match=r"bad_data.*fix the PromQL") as caught:
        bed.prom.value(
            "broken", scope=scope("canary"), query="sum(rate(model_requests_total[{{interval}}]"
        )
    assert caught.value.query == "sum(rate(model_requests_total[60s]"
    assert caught.value.address == bed.url


def test_a_query_returning_several_series_is_a_bad_query(bed: Bed) -> None:
    with pytest.raises(provider.BadQuery, match=r"returned \d+ series .*aggregate with sum"):
        bed.prom.value(
            "all", scope=scope("canary"), query='model_requests_total{namespace="{{namespace}}"}'
        )


def test_a_dead_address_is_unreachable() -> None:
    dead = prometheus.PrometheusProvider(
        f"http://127.0.0.1:{free_port()}", timeout=timedelta(seconds=2)
    )
    try:
        with pytest.raises(provider.ProviderUnreachable, match="could not be reached"):
            dead.value("accuracy", scope=scope("canary"))
    finally:
        dead.close()
