"""Plays a Gateway's data plane for one HTTPRoute, since no Gateway implementation runs on the test bed.

It listens on 127.0.0.1 and reads the route every second, as a Gateway controller would watch it.
Each request goes to a backendRef of the rule whose PathPrefix matches, picked by weight; then each
RequestMirror filter of that rule sends a copy, sampled at its `percent`, to its backendRef, and
the copy's answer is thrown away (the client's answer was written before the copy is sent). Services
are reached at their ClusterIPs, so kube-proxy picks the pods. A Gateway balances per request; this
one picks a rule's backend once per client connection, and keeps one upstream connection per
backend for it, so the feedback of an exchange (a connection of its own, tests/e2e/traffic.py)
reaches the pods that hold its prediction, the shadow's copy included. Other filter types are read
but not applied. Only for this machine's test bed: it refuses to send outside the Service range.
"""

from __future__ import annotations

import http.server
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e import traffic_endpoints

REFRESH_S = 1.0
FORWARDED = ("content-type", "x-request-id", "authorization")


@dataclass(frozen=True)
class Look:
    """The route as the player read it once: its resourceVersion and its first rule's parts."""

    at: float
    resource_version: str
    weights: dict[str, int]
    filters: list[dict[str, Any]]

    def mirrors(self) -> list[dict[str, Any]]:
        return [f for f in self.filters if f.get("type") == "RequestMirror"]


class GatewayPlayer:
    """A data plane for HTTPRoute `route` in `namespace` on `url` until stopped; see the module."""

    def __init__(self, api_client: Any, *, namespace: str, route: str) -> None:
        self._api, self._namespace, self._name = api_client, namespace, route
        self._lock = threading.Lock()  # the route, the looks and the counters, across threads
        self._route: dict[str, Any] | None = None
        self._addresses: dict[tuple[str, int], tuple[str, int]] = {}
        self._stop = threading.Event()
        self.looks: list[Look] = []
        self.answered: Counter[str] = Counter()  # primary requests answered 200, by Service
        self.copies: Counter[str] = Counter()  # mirrored copies answered 200, by Service and path
        self.copy_failures: Counter[str] = Counter()
        self.errors: list[str] = []
        player = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.picked: dict[int, str] = {}  # rule index -> backend, for this connection
                self.clients: dict[tuple[str, int], httpx.Client] = {}

            def finish(self) -> None:
                for c in self.clients.values():
                    c.close()
                super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                player._serve(self, body)

            def log_message(self, *args: object) -> None:
                del args

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._threads = [
            threading.Thread(target=self._httpd.serve_forever, daemon=True),
            threading.Thread(target=self._watch, daemon=True),
        ]
        self.endpoint = ("127.0.0.1", int(self._httpd.server_address[1]))

    def __enter__(self) -> GatewayPlayer:
        self._read()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def counts(self) -> dict[str, int]:
        """Copies answered 200, by '<Service> <infer|feedback>'."""
        with self._lock:
            return dict(self.copies)

    # -- the route ---------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(REFRESH_S):
            try:
                self._read()
            except Exception as e:  # the API server may blink: keep the last route
                self.errors.append(f"reading the route: {type(e).__name__}: {e}")

    def _read(self) -> None:
        from kubernetes import client

        route: dict[str, Any] = client.CustomObjectsApi(self._api).get_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", self._namespace, "httproutes", self._name
        )
        rule = route["spec"]["rules"][0]
        look = Look(
            at=time.monotonic(),
            resource_version=route["metadata"]["resourceVersion"],
            weights={b["name"]: int(b.get("weight", 1)) for b in rule.get("backendRefs") or []},
            filters=list(rule.get("filters") or []),
        )
        with self._lock:
            self._route = route
            self.looks.append(look)

    def _address(self, service: str, port: int) -> tuple[str, int]:
        key = (service, port)
        if key not in self._addresses:
            ip, _ = traffic_endpoints.cluster_ip_endpoint(
                self._api, namespace=self._namespace, service=service
            )
            traffic_endpoints.require_service_address(ip)
            self._addresses[key] = (ip, port)
        return self._addresses[key]

    # -- requests ----------------------------------------------------------------------------
    def _serve(self, handler: Any, body: bytes) -> None:
        with self._lock:
            route = self._route
        found = _rule_for(route, handler.path)
        if found is None:
            _reply(handler, 404, b'{"error": "no rule of the route matches"}')
            return
        index, rule = found
        refs = rule.get("backendRefs") or []
        if handler.picked.get(index) not in {b["name"] for b in refs}:
            weights = [int(b.get("weight", 1)) for b in refs]
            if sum(weights) == 0:
                _reply(handler, 500, b'{"error": "every backend weighs 0"}')
                return
            handler.picked[index] = random.choices(refs, weights=weights)[0]["name"]
        service = handler.picked[index]
        port = next(int(b["port"]) for b in refs if b["name"] == service)
        headers = {k: v for k in FORWARDED if (v := handler.headers.get(k)) is not None}
        try:
            answer = self._send(handler, service=service, port=port, body=body, headers=headers)
        except httpx.HTTPError as e:
            _reply(handler, 503, f'{{"error": "{type(e).__name__}"}}'.encode())
            return
        if answer.status_code == 200:
            self._count(self.answered, service)
        _reply(handler, answer.status_code, answer.content, answer.headers.get("x-request-id"))
        for f in rule.get("filters") or []:
            if f.get("type") != "RequestMirror":
                continue
            mirror = f["requestMirror"]
            if random.random() * 100 >= int(mirror.get("percent", 100)):
                continue
            target = mirror["backendRef"]
            key = f"{target['name']} {handler.path.rsplit('/', 1)[-1]}"
            try:
                mirrored = self._send(
                    handler,
                    service=target["name"],
                    port=int(target["port"]),
                    body=body,
                    headers=headers,
                )
            except httpx.HTTPError:
                self._count(self.copy_failures, key)
                continue
            self._count(self.copies if mirrored.status_code == 200 else self.copy_failures, key)

    def _count(self, counter: Counter[str], key: str) -> None:
        # Counted under the lock: `+=` from many threads may lose one, and the test compares counts.
        with self._lock:
            counter[key] += 1

    def _send(
        self,
        handler: Any,
        *,
        service: str,
        port: int,
        body: bytes,
        headers: dict[str, str],
    ) -> httpx.Response:
        path = handler.path
        host, port = self._address(service, port)
        traffic_endpoints.require_service_address(host)
        key = (host, port)
        if key not in handler.clients:
            handler.clients[key] = httpx.Client(timeout=5.0, trust_env=False)
        response: httpx.Response = handler.clients[key].post(
            f"http://{host}:{port}{path}", content=body, headers=headers
        )
        return response


def _rule_for(route: dict[str, Any] | None, path: str) -> tuple[int, dict[str, Any]] | None:
    """The first rule whose PathPrefix match (the Gateway API's default: "/") takes `path`."""
    for i, rule in enumerate((route or {}).get("spec", {}).get("rules", [])):
        for match in rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]:
            spec = match.get("path") or {"type": "PathPrefix", "value": "/"}
            if spec.get("type", "PathPrefix") != "PathPrefix":
                raise ValueError(f"the player takes PathPrefix matches only, not {spec}")
            prefix = spec.get("value", "/").rstrip("/")
            if path == prefix or path.startswith(prefix + "/") or prefix == "":
                return i, rule
    return None


def _reply(handler: Any, status: int, body: bytes, request_id: str | None = None) -> None:
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(body)))
    if request_id is not None:
        handler.send_header("x-request-id", request_id)
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()
