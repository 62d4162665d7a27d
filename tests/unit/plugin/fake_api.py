"""A tiny stand-in for the API server's ModelDeployment endpoints, on 127.0.0.1, for the plugin's tests.

It answers as kube-apiserver does (Status bodies, 404 without the CRD, 403 for a forbidden verb)
so the plugin is tested through the real kubernetes client, its kubeconfig loading and its HTTP.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PREFIX = "/apis/modelrollout.io/v1alpha1"


@dataclass
class FakeApi:
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    crd_installed: bool = True
    forbidden: set[str] = field(default_factory=set)
    """HTTP methods answered with 403."""
    patches: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(path, content type, body) of every PATCH received."""
    url: str = ""

    def add(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[(meta["namespace"], meta["name"])] = obj

    def answer(  # noqa: PLR0911 - one return per kind of answer, as a router reads
        self, method: str, path: str, body: bytes, ctype: str
    ) -> tuple[int, dict[str, Any]]:
        if not self.crd_installed or not path.startswith(PREFIX):
            return 404, _status(404, "the server could not find the requested resource")
        if method in self.forbidden:
            return 403, _status(
                403, f'User "bob" cannot {method.lower()} resource "modeldeployments"'
            )
        parts = path[len(PREFIX) :].strip("/").split("/")
        if parts == ["modeldeployments"]:
            return 200, _list(list(self.objects.values()))
        if len(parts) == 3 and parts[0] == "namespaces":
            return 200, _list([v for (ns, _), v in self.objects.items() if ns == parts[1]])
        if len(parts) != 4 or parts[0] != "namespaces":
            return 404, _status(404, "the server could not find the requested resource")
        obj = self.objects.get((parts[1], parts[3]))
        if obj is None:
            message = f'modeldeployments.modelrollout.io "{parts[3]}" not found'
            return 404, _status(404, message, name=parts[3])
        if method == "PATCH":
            patch = json.loads(body)
            self.patches.append((path, ctype, patch))
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations.update(patch["metadata"]["annotations"])
        return 200, obj


def _status(code: int, message: str, *, name: str | None = None) -> dict[str, Any]:
    details = {"name": name, "group": "modelrollout.io", "kind": "modeldeployments"} if name else {}
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "code": code, "details": details}  # fmt: skip


def _list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "modelrollout.io/v1alpha1", "kind": "ModelDeploymentList", "items": items}


@contextmanager
def serving(api: FakeApi) -> Iterator[FakeApi]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            code, doc = api.answer(self.command, path, body, self.headers.get("content-type", ""))
            data = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = _any  # noqa: N815 - the names http.server dispatches to

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


def kubeconfig(path: Path, *, server: str, namespace: str | None = "ml") -> Path:
    context: dict[str, Any] = {"cluster": "fake", "user": "bob"}
    if namespace:
        context["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "bob", "user": {"token": "not-a-secret"}}],
        "contexts": [
            {"name": "fake", "context": context},
            {"name": "other", "context": {"cluster": "fake", "user": "bob", "namespace": "other"}},
        ],
        "current-context": "fake",
    }
    path.write_text(json.dumps(doc))  # JSON is YAML, and the client reads it as such
    return path
