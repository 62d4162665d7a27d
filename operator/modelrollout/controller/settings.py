"""The operator's own settings, from flags and environment (the Helm chart sets the environment)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

# Between turns of one ModelDeployment when nothing asks to be woken sooner: short enough that a
# rollout never waits long on a missed watch event, long enough that thousands of idle objects are cheap.
IDLE_RESYNC = timedelta(seconds=30)
# A turn that moved the rollout is followed at once; this floor keeps a flapping object from spinning.
MIN_DELAY = timedelta(milliseconds=200)


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
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(list(argv))
    host, _, port = args.metrics_address.rpartition(":")
    if not host or not port.isdigit():
        p.error(f"--metrics-address must be host:port, got {args.metrics_address!r}")
    return Settings(
        image=args.image,
        namespaces=tuple(args.namespace),
        metrics_host=host,
        metrics_port=int(port),
        idle_resync=timedelta(seconds=args.idle_resync_seconds),
        verbose=args.verbose,
    )
