"""The traffic generator's thread against stand-ins on 127.0.0.1: the Service, pacing, feedback, limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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


# Only generators that never reach a ClusterIP read the Service here: on this machine 10.0.0.x may
# lead to a running test bed's pods (kube-proxy), so no unit test sends there.


def test_a_headless_service_gives_no_address_and_nothing_is_sent() -> None:
    api = fakes.FakeServiceApi(service=fakes.service({"app": "iris"}, cluster_ip="None"))
    with fakes.http_server(api) as port, _generator(api_client=fakes.api_client(port)) as gen:
        _until(lambda: gen.stats().total >= 5)
    stats = gen.stats()
    assert dict(stats.by_code) == {0: stats.total}
    assert dict(stats.errors) == {"no Service address yet": stats.total}
    assert "iris has no ClusterIP" in gen.refresh_errors[0]
    assert api.queries[0].startswith("/api/v1/namespaces/ml/services/iris")


def test_a_cluster_ip_outside_the_service_range_stops_the_generator_before_any_request() -> None:
    api = fakes.FakeServiceApi(service=fakes.service({"app": "iris"}, cluster_ip="10.244.0.5"))
    with fakes.http_server(api) as port:
        gen = _generator(api_client=fakes.api_client(port)).start()
        _until(lambda: not gen.running)
        with pytest.raises(RuntimeError, match=r"10\.244\.0\.5 is outside 10\.0\.0\.0/24"):
            gen.stop()
    assert gen.samples() == []


def test_a_failing_api_server_is_recorded_and_read_again() -> None:
    api = fakes.FakeServiceApi(failing=True)
    with fakes.http_server(api) as port, _generator(api_client=fakes.api_client(port)) as gen:
        _until(lambda: len(gen.refresh_errors) >= 2)
    assert "503" in gen.refresh_errors[0]
    assert gen.endpoints == []


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
