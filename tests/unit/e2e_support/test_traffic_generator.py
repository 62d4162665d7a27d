"""The traffic generator's thread against stand-ins on 127.0.0.1: endpoints, pacing, feedback, limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest

from tests.e2e import traffic
from tests.unit.e2e_support import fakes

pytestmark = pytest.mark.unit

ROWS = [[float(i), 0.5, 0.25, 0.125] for i in range(10)]
TRUTH = [i % 3 for i in range(10)]


def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _generator(**kw: object) -> traffic.TrafficGenerator:
    settings: dict[str, object] = {
        "namespace": "ml", "service": "iris", "model": "iris", "rows": ROWS, "truth": TRUTH,
        "rate_per_s": 40, "seed": 7,
    }  # fmt: skip
    api = kw.pop("api_client", None)
    return traffic.TrafficGenerator(api, **{**settings, **kw})  # type: ignore[arg-type]


def test_traffic_follows_the_ready_endpoints_as_they_change() -> None:
    v1, v2, discovery = fakes.FakeModel("1"), fakes.FakeModel("2"), fakes.FakeDiscovery()
    with (
        fakes.http_server(v1) as p1,
        fakes.http_server(v2) as p2,
        fakes.http_server(discovery) as api,
    ):
        discovery.slices = [fakes.endpoint_slice(p1, ("127.0.0.1", True))]
        with _generator(api_client=fakes.api_client(api), port_name="http") as gen:
            _until(lambda: gen.stats().by_version.get("1", 0) >= 10)
            # The canary's endpoint becomes ready, then the stable one goes unready.
            discovery.slices = [fakes.endpoint_slice(p2, ("127.0.0.1", True))]
            switched = time.time()
            _until(lambda: gen.stats(since=switched + traffic.REFRESH_S + 0.5).total >= 20)
        after = gen.stats(since=switched + traffic.REFRESH_S + 0.5)
    assert dict(after.by_version) == {"2": after.total}
    assert gen.stats().by_version["1"] >= 10
    assert "labelSelector=kubernetes.io/service-name=iris" in unquote(discovery.queries[0])
    assert gen.refresh_errors == []


@pytest.mark.parametrize(
    "slices", [[], [{"addressType": "IPv4", "endpoints": None, "ports": None}]]
)
def test_a_service_without_ready_endpoints_in_slices_is_served_by_its_ready_pods(
    slices: list[dict[str, object]],
) -> None:
    # kube-apiserver refuses 127.x addresses in EndpointSlices: on the test bed a Service has no
    # slice, or the empty one written before its pods had addresses.
    labels = {"app.kubernetes.io/name": "iris"}
    v1 = fakes.FakeModel("1")
    discovery = fakes.FakeDiscovery(slices=slices, service=fakes.service(labels))
    with fakes.http_server(v1) as p1, fakes.http_server(discovery) as api:
        discovery.pods = [
            fakes.pod("127.0.0.1", labels=labels, port=p1),
            fakes.pod("127.0.0.1", labels=labels, port=p1 + 1, ready=False),
        ]
        with _generator(api_client=fakes.api_client(api)) as gen:
            _until(lambda: gen.stats().total >= 10)
    assert gen.endpoints == [("127.0.0.1", p1)]
    assert dict(gen.stats().by_version) == {"1": gen.stats().total}
    pod_queries = [
        unquote(q) for q in discovery.queries if q.startswith("/api/v1/namespaces/ml/pods")
    ]
    assert "labelSelector=app.kubernetes.io/name=iris" in pod_queries[0]


def test_a_failing_api_server_keeps_the_last_endpoints() -> None:
    v1, discovery = fakes.FakeModel("1"), fakes.FakeDiscovery()
    with fakes.http_server(v1) as p1, fakes.http_server(discovery) as api:
        discovery.slices = [fakes.endpoint_slice(p1, ("127.0.0.1", True))]
        with _generator(api_client=fakes.api_client(api)) as gen:
            _until(lambda: gen.stats().total >= 5)
            discovery.failing = True
            _until(lambda: len(gen.refresh_errors) >= 2)
            failed_at = time.time()
            _until(lambda: gen.stats(since=failed_at).total >= 10)
    assert dict(gen.stats(since=failed_at).by_code) == {200: gen.stats(since=failed_at).total}
    assert "503" in gen.refresh_errors[0]


def test_without_ready_endpoints_requests_fail_like_kube_proxy_would() -> None:
    discovery = fakes.FakeDiscovery(slices=[fakes.endpoint_slice(8080, ("127.0.0.1", False))])
    with fakes.http_server(discovery) as api, _generator(api_client=fakes.api_client(api)) as gen:
        _until(lambda: gen.stats().total >= 5)
    stats = gen.stats()
    assert dict(stats.by_code) == {0: stats.total}
    assert dict(stats.errors) == {"no ready endpoint": stats.total}


def test_an_endpoint_outside_loopback_stops_the_generator_before_any_request() -> None:
    discovery = fakes.FakeDiscovery(slices=[fakes.endpoint_slice(8080, ("10.244.0.5", True))])
    with fakes.http_server(discovery) as api:
        gen = _generator(api_client=fakes.api_client(api)).start()
        _until(lambda: not gen.running)
        with pytest.raises(RuntimeError, match=r"10\.244\.0\.5 is outside 127\.0\.0\.0/8"):
            gen.stop()
    assert gen.samples() == []


def test_each_request_sends_the_truth_of_its_own_row_as_feedback() -> None:
    model = fakes.FakeModel("1")
    with fakes.http_server(model) as port, _generator(endpoints=[("127.0.0.1", port)]):
        _until(lambda: len(model.feedback) >= 20)
    rows_by_id = {b["id"]: b["inputs"][0]["data"] for b in model.infers}
    for fb in model.feedback:
        row = rows_by_id[fb["id"]]
        assert fb["truth"] == [TRUTH[int(row[0])]]
    infer = model.infers[0]["inputs"][0]
    assert (infer["name"], infer["datatype"], infer["shape"]) == ("input-0", "FP64", [1, 4])
    assert len(set(rows_by_id)) == len(model.infers)  # every request has its own id


def test_each_exchange_has_a_connection_of_its_own_that_its_feedback_follows() -> None:
    """kube-proxy balances connections: a new one per exchange spreads the requests, and the
    feedback reaches the pod that holds its prediction."""
    model = fakes.FakeModel("1")
    with fakes.http_server(model) as port, _generator(endpoints=[("127.0.0.1", port)]):
        _until(lambda: len(model.feedback) >= 20)
    ports: dict[Any, set[int]] = {}
    for _, request_id, peer in model.peers:
        ports.setdefault(request_id, set()).add(peer)
    exchanges = list(ports.values())
    assert all(len(p) == 1 for p in exchanges), ports  # infer and its feedback: one connection
    assert len({next(iter(p)) for p in exchanges}) == len(exchanges)  # none shared


@pytest.mark.parametrize(
    ("feedback", "fraction", "low", "high"), [(False, 1.0, 0, 0), (True, 0.5, 0.3, 0.7)]
)
def test_feedback_can_be_off_or_sent_for_a_fraction_of_requests(
    feedback: bool, fraction: float, low: float, high: float
) -> None:
    model = fakes.FakeModel("1")
    with fakes.http_server(model) as port:
        endpoints = [("127.0.0.1", port)]
        with _generator(
            endpoints=endpoints, feedback=feedback, feedback_fraction=fraction, rate_per_s=200
        ) as gen:
            _until(lambda: gen.stats().total >= 100)
    stats = gen.stats()
    sent = sum(stats.feedback_by_code.values())
    assert low * stats.total <= sent <= high * stats.total
    assert len(model.feedback) == sent


def test_requests_are_paced_at_the_rate_asked_for() -> None:
    model = fakes.FakeModel("1")
    with (
        fakes.http_server(model) as port,
        _generator(endpoints=[("127.0.0.1", port)], rate_per_s=20),
    ):
        time.sleep(1.5)
    assert 22 <= len(model.infers) <= 34  # 30 due in 1.5 s; a loaded machine may lag a little


def test_a_generator_stops_by_itself_after_its_maximum_duration() -> None:
    model = fakes.FakeModel("1")
    with fakes.http_server(model) as port:
        gen = _generator(endpoints=[("127.0.0.1", port)], max_duration_s=0.5).start()
        _until(lambda: not gen.running, timeout=5)
        gen.stop()
    assert gen.expired
    assert 0 < len(model.infers) <= 25


def test_a_slow_version_does_not_slow_the_rate_and_saturation_drops_requests() -> None:
    # At 0.2 s an exchange (plus its connection and feedback) 20 requests/s keep about 4-5 of the
    # 8 slots busy: room to spare on a loaded machine. At 0.3 s two slots carry about 6.7/s.
    slow, slower = fakes.FakeModel("3", delay_s=0.2), fakes.FakeModel("3", delay_s=0.3)
    with fakes.http_server(slow) as port, fakes.http_server(slower) as slower_port:
        with _generator(endpoints=[("127.0.0.1", port)], rate_per_s=20) as gen:
            time.sleep(1.5)
        with _generator(
            endpoints=[("127.0.0.1", slower_port)], rate_per_s=20, concurrency=2
        ) as few:
            time.sleep(1.5)
    # 30 due in 1.5 s; one at a time, 0.2 s each, would have been 7.
    assert gen.stats().total >= 18
    assert gen.dropped == 0
    assert min(s.seconds for s in gen.samples()) >= 0.2
    # Two in flight at 0.3 s each carry about 6.7 requests/s of the 20 asked for.
    assert few.dropped >= 10
    assert few.stats().total + few.dropped >= 22
