"""The operator's own `/metrics` and `/healthz`, served by one small aiohttp app beside kopf.

Built in the controller's start-up handler and kept in kopf's memo, never in module globals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# A reconcile that has not finished for this long means the operator is wedged: the liveness probe fails
# and the kubelet restarts it (all rollout state is in status, so a restart resumes where it was).
STALL_SECONDS = 300.0


@dataclass
class OperatorMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.reconcile_seconds = Histogram(
            "modelrollout_reconcile_duration_seconds",
            "Time to observe, decide, act and write status for one ModelDeployment.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            "modelrollout_reconcile_errors_total",
            "Reconciles that ended in an error, by error type.",
            ["error"],
            registry=self.registry,
        )
        self.rollouts = Counter(
            "modelrollout_rollouts_total",
            "Finished rollouts by outcome (promoted, rolled_back, failed, aborted).",
            ["namespace", "name", "outcome"],
            registry=self.registry,
        )
        self.measurements = Counter(
            "modelrollout_analysis_measurements_total",
            "Analysis measurements taken, by metric and phase.",
            ["namespace", "name", "metric", "phase"],
            registry=self.registry,
        )
        self.canary_weight = Gauge(
            "modelrollout_canary_weight_percent",
            "Requested canary weight of each ModelDeployment.",
            ["namespace", "name"],
            registry=self.registry,
        )
        self.last_reconcile = Gauge(
            "modelrollout_last_reconcile_timestamp_seconds",
            "When the last reconcile finished.",
            registry=self.registry,
        )
        self.queue_wait_seconds = Histogram(
            "modelrollout_workqueue_wait_seconds",
            "Time a ModelDeployment waited in the work queue before its turn began.",
            buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "modelrollout_workqueue_depth",
            "ModelDeployments waiting for a worker.",
            registry=self.registry,
        )
        self.cached_objects = Gauge(
            "modelrollout_cached_objects",
            "Owned objects held in memory by the watches (Deployments, Services, validation Jobs and pods).",
            registry=self.registry,
        )
        self.in_flight_since: dict[str, float] = {}

    def forget(self, namespace: str, name: str) -> None:
        """A deleted ModelDeployment's series go with it: per-object labels must not pile up."""
        for family in (self.rollouts, self.measurements, self.canary_weight):
            mine = [labels for labels in list(family._metrics) if labels[:2] == (namespace, name)]
            for labels in mine:
                family.remove(*labels)

    def stalled(self, *, now: float) -> list[str]:
        return [k for k, t in self.in_flight_since.items() if now - t > STALL_SECONDS]


def app(metrics: OperatorMetrics) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        stalled = metrics.stalled(now=time.monotonic())
        if stalled:
            return web.Response(status=503, text=f"reconcile stalled for: {', '.join(stalled)}\n")
        return web.Response(text="ok\n")

    async def metrics_view(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    application = web.Application()
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/metrics", metrics_view)
    return application


async def serve(metrics: OperatorMetrics, *, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app(metrics), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host=host, port=port).start()
    return runner
