"""Probes decide like the kubelet's (thresholds, defaults) and really reach the container."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from testbed.podrunner import probe_exec, probes

pytestmark = pytest.mark.unit


def tracker(kind: str, **probe: object) -> probes.ProbeTracker:
    return probes.ProbeTracker(probes.spec_from(kind, {"tcpSocket": {"port": 1}, **probe}))


def test_probe_defaults_are_the_apis() -> None:
    spec = probes.spec_from(probes.LIVENESS, {"httpGet": {"port": 80}})
    assert (
        spec.initial_delay,
        spec.period,
        spec.timeout,
        spec.success_threshold,
        spec.failure_threshold,
    ) == (0, 10, 1, 1, 3)


def test_readiness_starts_false_and_needs_success_threshold_successes_in_a_row() -> None:
    t = tracker(probes.READINESS, successThreshold=2)
    assert t.result is False
    assert t.observe(True) is None
    assert t.observe(False) is None
    assert t.observe(True) is None
    assert t.observe(True) is True
    assert t.result is True


def test_liveness_starts_alive_and_fails_only_after_failure_threshold_failures_in_a_row() -> None:
    t = tracker(probes.LIVENESS, failureThreshold=2)
    assert t.result is True
    assert t.observe(False) is None
    assert t.observe(True) is None
    assert t.observe(False) is None
    assert t.observe(False) is False


def test_startup_is_unknown_until_the_first_success() -> None:
    t = tracker(probes.STARTUP)
    assert t.result is None
    assert t.observe(True) is True


def test_a_probe_with_two_handlers_or_a_liveness_success_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        probes.spec_from(probes.READINESS, {"httpGet": {"port": 1}, "tcpSocket": {"port": 1}})
    with pytest.raises(ValueError, match="successThreshold must be 1"):
        probes.spec_from(probes.LIVENESS, {"httpGet": {"port": 1}, "successThreshold": 2})


def test_only_readiness_and_a_healthy_liveness_probe_keep_running() -> None:
    assert probes.holds_after(probes.READINESS, False)
    assert probes.holds_after(probes.LIVENESS, True)
    assert not probes.holds_after(probes.LIVENESS, False)
    assert not probes.holds_after(probes.STARTUP, True)


class Handler(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []  # noqa: RUF012

    def do_GET(self) -> None:
        Handler.seen.append((self.path, self.headers.get("X-Check")))
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    srv = http.server.ThreadingHTTPServer(("127.1.0.250", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def target(port: int) -> probe_exec.Target:
    return probe_exec.Target(
        pod_ip="127.1.0.250", ports=[{"name": "http", "containerPort": port}], env={}, pid=0
    )


def test_http_probes_go_to_the_pod_ip_by_named_port_with_headers(server: int) -> None:
    ok, message = probe_exec.run(
        {
            "httpGet": {
                "path": "/ok",
                "port": "http",
                "httpHeaders": [{"name": "X-Check", "value": "1"}],
            }
        },
        target=target(server),
        timeout=1,
    )
    assert ok, message
    assert ("/ok", "1") in Handler.seen
    bad, message = probe_exec.run(
        {"httpGet": {"path": "/sick", "port": server}}, target=target(server), timeout=1
    )
    assert not bad
    assert "503" in message


def test_tcp_probes_fail_on_a_closed_port_and_pass_on_an_open_one(server: int) -> None:
    assert probe_exec.run({"tcpSocket": {"port": server}}, target=target(server), timeout=1)[0]
    with socket.socket() as s:
        s.bind(("127.1.0.250", 0))
        closed = s.getsockname()[1]
    ok, message = probe_exec.run({"tcpSocket": {"port": closed}}, target=target(server), timeout=1)
    assert not ok
    assert "ConnectionRefused" in message


def test_an_unknown_named_port_fails_the_probe_with_a_reason(server: int) -> None:
    ok, message = probe_exec.run({"httpGet": {"port": "metrics"}}, target=target(server), timeout=1)
    assert not ok
    assert "no containerPort with that name" in message
