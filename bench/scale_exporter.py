"""The metrics source of bench/scale.py: one small exporter answering for every object's canary.

Usage: python bench/scale_exporter.py PORT PLAN.json (started by bench/scale.py, stopped by it)

PLAN.json lists {namespace, model, version, errorRatio}; it is read again whenever it changes. Each
entry is a canary serving 10 requests a second from the moment the plan first named it, errorRatio of
them 500s, in the model server's metrics contract (model_requests_total with model, version, track,
namespace, code labels), so Prometheus scrapes it and every analysis query is a real PromQL query.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RATE = 10.0  # requests per second per canary


class Plan:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.mtime = 0.0
        self.entries: list[tuple[str, str, str, float]] = []
        self.born: dict[tuple[str, str, str], float] = {}

    def current(self) -> list[tuple[str, str, str, float]]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return self.entries
        if mtime != self.mtime:
            self.mtime = mtime
            doc = json.loads(self.path.read_text() or "[]")
            self.entries = [
                (e["namespace"], e["model"], e["version"], float(e["errorRatio"])) for e in doc
            ]
            now = time.monotonic()
            keep = {(ns, m, v) for ns, m, v, _ in self.entries}
            # Only the series the plan names live on: the exporter's memory stays bounded.
            self.born = {k: self.born.get(k, now) for k in keep}
        return self.entries


def render(plan: Plan) -> bytes:
    now = time.monotonic()
    lines = ["# TYPE model_requests_total counter"]
    for ns, model, version, err in plan.current():
        total = RATE * (now - plan.born[(ns, model, version)])
        labels = f'namespace="{ns}",model="{model}",version="{version}",track="canary"'
        lines.append(f'model_requests_total{{{labels},code="200"}} {total * (1 - err):.3f}')
        lines.append(f'model_requests_total{{{labels},code="500"}} {total * err:.3f}')
    return ("\n".join(lines) + "\n").encode()


def main(argv: list[str]) -> int:
    port, plan = int(argv[0]), Plan(Path(argv[1]))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = render(plan)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
