"""A stand-in for kube-proxy in front of one Service, for pods that must call a Service by address.

On the pod-runner bed a ClusterIP does not route (traffic_endpoints says why), so a pod that calls
a Service (the stable copying requests to its shadow Service) is pointed at this proxy instead: it
forwards each request to one of the Service's ready endpoints, picked at random as kube-proxy
would, read again every second; with none ready it answers 503, as a Service without endpoints
refuses. On a real node (MODEL_ROLLOUT_REAL_NODE=1) Services route and no proxy is needed.
"""

from __future__ import annotations

import http.server
import os
import random
import threading
import time
from typing import Any

import httpx

from tests.e2e import traffic_endpoints

REFRESH_S = 1.0


def services_route() -> bool:
    """True on a bed whose Services carry traffic (real nodes with kube-proxy)."""
    return os.environ.get("MODEL_ROLLOUT_REAL_NODE", "0") == "1"


class ServiceProxy:
    """Listens on 127.0.0.1 (`url`) and forwards to `service`'s ready endpoints until stopped."""

    def __init__(self, api_client: Any, *, namespace: str, service: str) -> None:
        self._api, self._namespace, self._service = api_client, namespace, service
        self._endpoints: list[tuple[str, int]] = []
        self._read_at = 0.0
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=5.0)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._forward(self, b"")

            def do_POST(self) -> None:
                proxy._forward(self, self.rfile.read(int(self.headers.get("content-length", 0))))

            def log_message(self, *args: object) -> None:
                del args

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ServiceProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._client.close()

    def _pick(self) -> tuple[str, int] | None:
        with self._lock:
            if time.monotonic() - self._read_at > REFRESH_S:
                self._endpoints = traffic_endpoints.ready_endpoints(
                    self._api, namespace=self._namespace, service=self._service
                )
                self._read_at = time.monotonic()
            endpoints = list(self._endpoints)
        return random.choice(endpoints) if endpoints else None

    def _forward(self, handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        endpoint = self._pick()
        status, payload = 503, b'{"error": "no ready endpoint"}'
        if endpoint is not None:
            traffic_endpoints.require_loopback(endpoint[0])
            headers = {
                k: v
                for k, v in handler.headers.items()
                if k.lower() in ("content-type", "authorization", "x-request-id")
            }
            try:
                answer = self._client.request(
                    handler.command,
                    f"http://{endpoint[0]}:{endpoint[1]}{handler.path}",
                    content=body or None,
                    headers=headers,
                )
                status, payload = answer.status_code, answer.content
            except httpx.HTTPError:
                status, payload = 502, b'{"error": "the endpoint did not answer"}'
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
