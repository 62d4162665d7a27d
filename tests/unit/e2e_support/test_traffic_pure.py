"""The traffic generator's pure parts: the address guards, a Service's ClusterIP and the counting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.e2e import traffic, traffic_endpoints
from tests.e2e.traffic_stats import Sample, summarize
from tests.unit.e2e_support.fakes import service

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.3.7", "127.255.255.254"])
def test_loopback_addresses_are_allowed(host: str) -> None:
    traffic.require_loopback(host)


@pytest.mark.parametrize(
    "host", ["10.0.0.7", "128.0.0.1", "0.0.0.0", "::1", "localhost", "example.org"]
)
def test_anything_but_127_slash_8_is_refused(host: str) -> None:
    with pytest.raises(traffic.NotLoopbackError, match=r"loopback|127"):
        traffic.require_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "10.0.0.254"])
def test_the_test_beds_cluster_ips_are_allowed(host: str) -> None:
    traffic.require_service_address(host)


@pytest.mark.parametrize("host", ["10.0.1.1", "10.244.3.7", "127.0.0.1", "example.org"])
def test_anything_but_the_service_range_is_refused_as_a_cluster_ip(host: str) -> None:
    with pytest.raises(
        traffic.NotLoopbackError, match=r"outside 10\.0\.0\.0/24|not an IP address.*ClusterIPs"
    ):
        traffic.require_service_address(host)


def test_a_service_is_reached_at_its_cluster_ip_on_the_named_port() -> None:
    svc = service({"app": "iris"})
    svc["spec"]["clusterIP"] = "10.0.0.42"
    svc["spec"]["ports"].append({"name": "grpc", "port": 81, "targetPort": "grpc"})
    assert traffic_endpoints.service_port(svc) == ("10.0.0.42", 80)
    assert traffic_endpoints.service_port(svc, port_name="grpc") == ("10.0.0.42", 81)
    assert traffic_endpoints.service_port(svc, port_name="nope") is None
    svc["spec"]["clusterIP"] = "None"  # headless: nothing for kube-proxy to route
    assert traffic_endpoints.service_port(svc) is None


def _sample(at: float, version: str | None, code: int = 200, feedback: int | None = 200) -> Sample:
    return Sample(at=at, endpoint=("127.0.0.1", 1), code=code, version=version, feedback=feedback)


SAMPLES = [
    _sample(100.0, "1"),
    _sample(101.0, "2"),
    _sample(102.5, "1", feedback=None),
    _sample(104.0, None, code=0, feedback=None),
    _sample(106.0, "1", feedback=404),
    _sample(111.0, "1"),
]


def test_counts_per_version_code_and_feedback_cover_every_request() -> None:
    stats = summarize(SAMPLES)
    assert stats.total == 6
    assert dict(stats.by_version) == {"1": 4, "2": 1}
    assert dict(stats.by_code) == {200: 5, 0: 1}
    assert dict(stats.feedback_by_code) == {200: 3, 404: 1}
    assert stats.share("1") == pytest.approx(4 / 6)
    assert stats.share("3") == 0.0
    assert dict(stats.seen) == {"1": (100.0, 111.0), "2": (101.0, 101.0)}


def test_since_and_until_select_a_time_range_given_as_epoch_or_datetime() -> None:
    after = summarize(SAMPLES, since=102.0)
    assert dict(after.by_version) == {"1": 3}
    assert after.share("1") == pytest.approx(3 / 4)
    as_datetime = summarize(SAMPLES, since=datetime.fromtimestamp(102.0, tz=UTC), until=106.0)
    assert as_datetime.total == 2
    assert summarize(SAMPLES, since=200.0).total == 0
    assert summarize(SAMPLES, since=200.0).share("1") == 0.0


def test_windows_split_the_requests_by_time_from_the_first_one() -> None:
    windows = summarize(SAMPLES, window_s=5.0).windows
    assert [w.start for w in windows] == [100.0, 105.0, 110.0]
    assert [dict(w.by_version) for w in windows] == [{"1": 2, "2": 1}, {"1": 1}, {"1": 1}]
    assert [dict(w.by_code) for w in windows] == [{200: 3, 0: 1}, {200: 1}, {200: 1}]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"endpoints": [("10.1.2.3", 8080)]}, traffic.NotLoopbackError),
        ({"rows": [[1.0]], "truth": [0, 1]}, ValueError),
        ({"rows": [], "truth": []}, ValueError),
        ({"rate_per_s": 0}, ValueError),
        ({"feedback_fraction": 1.5}, ValueError),
        ({"endpoints": None}, ValueError),
    ],
)
def test_a_generator_refuses_bad_settings_before_sending_anything(
    changes: dict[str, object], error: type[Exception]
) -> None:
    settings: dict[str, object] = {
        "namespace": "ml", "service": "iris", "model": "iris", "rows": [[1.0, 2.0]],
        "truth": [0], "rate_per_s": 10, "endpoints": [("127.0.0.1", 8080)],
    }  # fmt: skip
    with pytest.raises(error):
        traffic.TrafficGenerator(None, **{**settings, **changes})  # type: ignore[arg-type]
