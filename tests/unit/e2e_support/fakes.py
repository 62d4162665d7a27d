"""Stand-ins on 127.0.0.1 for the traffic generator's tests: a Service's API and tiny model servers.

The model stand-in answers infer and feedback in the Open Inference Protocol shapes of
`modelrollout.serving` and counts what it got, so the generator's own logic is tested quickly.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, str, dict[str, Any]], tuple[int, dict[str, Any]]]


@contextmanager
def http_server(answer: Answer) -> Iterator[int]:
    """Serve `answer(method, path_with_query, json_body)` on 127.0.0.1; yields the port."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the model server does

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle's algorithm and delayed
            # ACKs hold every keep-alive answer back by 40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            peers = getattr(answer, "peers", None)
            if peers is not None:  # which client connection each request came on
                peers.append((self.path, body.get("id"), self.client_address[1]))
            code, doc = answer(self.command, self.path, body)
            data = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _any  # noqa: N815 - the names http.server dispatches to

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class FakeModel:
    """A model server of one version that predicts `label` for every row."""

    version: str
    label: int = 0
    delay_s: float = 0.0
    """How long each inference takes: a slow model."""
    infers: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    peers: list[tuple[str, Any, int]] = field(default_factory=list)
    """(path, request id, client port) of every request, filled in by http_server."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path.endswith("/infer"):
            time.sleep(self.delay_s)
        with self.lock:
            if method == "POST" and path == "/v2/models/iris/infer":
                self.infers.append(body)
                outputs = [
                    {"name": "predict", "datatype": "INT64", "shape": [1], "data": [self.label]}
                ]
                return 200, {"model_name": "iris", "model_version": self.version,
                             "id": body["id"], "outputs": outputs}  # fmt: skip
            if method == "POST" and path == "/v2/models/iris/feedback":
                self.feedback.append(body)
                return 200, {"id": body["id"], "rows": 1}
        return 404, {"error": f"no route {path}"}


@dataclass
class FakeServiceApi:
    """The API server's read of Service `iris` in namespace `ml` (404 while `service` is None)."""

    service: dict[str, Any] | None = None
    queries: list[str] = field(default_factory=list)
    failing: bool = False

    def __call__(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.queries.append(path)
        if self.failing:
            return 503, {"kind": "Status", "message": "etcd is having a moment"}
        if path.split("?", 1)[0] == "/api/v1/namespaces/ml/services/iris" and self.service:
            return 200, self.service
        return 404, {"kind": "Status", "message": "not found"}


def service(selector: dict[str, str], *, cluster_ip: str | None = None) -> dict[str, Any]:
    ports = [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    spec: dict[str, Any] = {"selector": selector, "ports": ports}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    return {"metadata": {"name": "iris", "namespace": "ml"}, "spec": spec}


def api_client(port: int) -> Any:
    """A kubernetes ApiClient pointed at a fake API server on 127.0.0.1."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    configuration.retries = 0
    return client.ApiClient(configuration)
