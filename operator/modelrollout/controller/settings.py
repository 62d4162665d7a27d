"""The operator's own settings, from flags and environment (the Helm chart sets the environment)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from modelrollout.k8s import client

# Between turns of one ModelDeployment when nothing asks to be woken sooner: short enough that a
# rollout never waits long on a missed watch event, long enough that thousands of idle objects are cheap.
IDLE_RESYNC = timedelta(seconds=30)
# A turn that moved the rollout is followed at once; this floor keeps a flapping object from spinning.
MIN_DELAY = timedelta(milliseconds=200)
# Turns run at once: each is a thread doing blocking API calls. bench/scale.py measured a turn at ~8 ms
# of CPU and ~0.3 s of waiting on the API server, so 8 workers capped the operator at ~25 turns/s
# and 100 rollouts at once queued for seconds; beyond ~16 they only queue on the GIL and the rate limit.
WORKERS = 16
KUBE_QPS, KUBE_BURST = client.DEFAULT_QPS, client.DEFAULT_BURST


@dataclass(frozen=True)
class Settings:
    image: str
    """The image serving and validation pods run when spec.serving.image is unset: the operator's own."""
    namespaces: tuple[str, ...] = ()
    """Watch these namespaces only; empty means the whole cluster."""
    metrics_host: str = "0.0.0.0"  # noqa: S104 (a pod's port, reached by its kubelet and Prometheus)
    metrics_port: int = 8081
    idle_resync: timedelta = IDLE_RESYNC
    verbose: bool = False
    workers: int = WORKERS
    """ModelDeployments reconciled at once; the others wait in the work queue."""
    kube_qps: float = KUBE_QPS
    """Average API requests per second (client-side limit, as client-go's QPS)."""
    kube_burst: int = KUBE_BURST
    """API requests allowed at once above the average (client-go's Burst)."""


def parse(argv: Sequence[str]) -> Settings:
    env = os.environ
    p = argparse.ArgumentParser(
        prog="model-rollout operator",
        description="Run the ModelDeployment operator (kopf) against the current kubeconfig or in-cluster config.",
    )
    p.add_argument(
        "--image",
        default=env.get("MODEL_ROLLOUT_IMAGE", "model-rollout:latest"),
        help="image for serving and validation pods when spec.serving.image is unset (env MODEL_ROLLOUT_IMAGE)",
    )
    p.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[n for n in env.get("MODEL_ROLLOUT_NAMESPACES", "").split(",") if n],
        help="watch only this namespace (repeatable; env MODEL_ROLLOUT_NAMESPACES, comma-separated); default: all",
    )
    p.add_argument(
        "--metrics-address",
        default=env.get("MODEL_ROLLOUT_METRICS_ADDRESS", "0.0.0.0:8081"),
        help="host:port of /metrics and /healthz (env MODEL_ROLLOUT_METRICS_ADDRESS)",
    )
    p.add_argument(
        "--idle-resync-seconds",
        type=float,
        default=float(env.get("MODEL_ROLLOUT_IDLE_RESYNC_SECONDS", IDLE_RESYNC.total_seconds())),
    )
    p.add_argument(
        "--workers",
        type=int,
        default=int(env.get("MODEL_ROLLOUT_WORKERS", WORKERS)),
        help=f"ModelDeployments reconciled at once (env MODEL_ROLLOUT_WORKERS; default {WORKERS})",
    )
    p.add_argument(
        "--kube-api-qps",
        type=float,
        default=float(env.get("MODEL_ROLLOUT_KUBE_API_QPS", KUBE_QPS)),
        help=f"average API requests per second (env MODEL_ROLLOUT_KUBE_API_QPS; default {KUBE_QPS:g})",
    )
    p.add_argument(
        "--kube-api-burst",
        type=int,
        default=int(env.get("MODEL_ROLLOUT_KUBE_API_BURST", KUBE_BURST)),
        help=f"API requests at once above the average (env MODEL_ROLLOUT_KUBE_API_BURST; default {KUBE_BURST})",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(list(argv))
    host, _, port = args.metrics_address.rpartition(":")
    if not host or not port.isdigit():
        p.error(f"--metrics-address must be host:port, got {args.metrics_address!r}")
    if args.workers < 1:
        p.error(f"--workers (MODEL_ROLLOUT_WORKERS) must be at least 1, got {args.workers}")
    if args.kube_api_qps <= 0 or args.kube_api_burst < 1:
        p.error(
            "--kube-api-qps must be > 0 and --kube-api-burst >= 1 (MODEL_ROLLOUT_KUBE_API_QPS/BURST), "
            f"got {args.kube_api_qps:g} and {args.kube_api_burst}"
        )
    return Settings(
        image=args.image,
        namespaces=tuple(args.namespace),
        metrics_host=host,
        metrics_port=int(port),
        idle_resync=timedelta(seconds=args.idle_resync_seconds),
        verbose=args.verbose,
        workers=args.workers,
        kube_qps=args.kube_api_qps,
        kube_burst=args.kube_api_burst,
    )
