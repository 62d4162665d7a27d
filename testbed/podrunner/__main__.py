"""`python -m testbed.podrunner`: runs the pod runner until SIGTERM, then stops every process it started.

Back-off is faster than the kubelet's (base --backoff-base, default 1s, cap 60s, against 10s and 300s)
so that tests of restarts move quickly.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from kubernetes import config

from testbed.podrunner import kube, runner, settings


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m testbed.podrunner", description=__doc__)
    p.add_argument(
        "--kubeconfig", type=Path, required=True, help="admin kubeconfig of the test bed's cluster"
    )
    p.add_argument(
        "--state-dir", type=Path, required=True, help="pid file, container logs, volumes, pod files"
    )
    p.add_argument(
        "--project-image",
        action="append",
        default=[],
        help="image repository basename run for real (repeatable; default: model-rollout)",
    )
    p.add_argument(
        "--entrypoint",
        default="model-rollout",
        help="the project image's ENTRYPOINT, run when a container sets no command",
    )
    p.add_argument(
        "--path-prepend",
        action="append",
        default=[],
        help="directory put first on PATH (repeatable)",
    )
    p.add_argument(
        "--keep-visible",
        action="append",
        default=[],
        help="host path that stays visible in containers even under a volume mount (repeatable)",
    )
    p.add_argument(
        "--backoff-base",
        type=float,
        default=1.0,
        help="first restart back-off in seconds (doubling, cap 60)",
    )
    p.add_argument("--pod-network", default="127.1.0.0/16", help="loopback range pod IPs come from")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s",
    )
    if not args.kubeconfig.is_file():
        print(
            f"podrunner: kubeconfig {args.kubeconfig} does not exist; start the cluster first "
            "(python -m testbed up)",
            file=sys.stderr,
        )
        return 2
    problem = _namespaces_unavailable()
    if problem:
        print(f"podrunner: {problem}", file=sys.stderr)
        return 2
    cfg = settings.Settings(
        state_dir=args.state_dir.resolve(),
        project_images=frozenset(args.project_image or ["model-rollout"]),
        entrypoint=tuple(shlex.split(args.entrypoint)),
        path_prepend=tuple(str(Path(p).resolve()) for p in args.path_prepend),
        keep_visible=tuple(str(Path(p).resolve()) for p in args.keep_visible),
        backoff_base=args.backoff_base,
        pod_network=args.pod_network,
    )
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    pid_file = cfg.state_dir / "podrunner.pid"
    pid_file.write_text(str(os.getpid()))
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("podrunner").info(
            "got %s; stopping every container", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        the_runner = runner.Runner(kube_api=kube.Kube(args.kubeconfig), cfg=cfg)
    except (ValueError, OSError, config.ConfigException) as e:
        print(f"podrunner: cannot start: {e}", file=sys.stderr)
        pid_file.unlink(missing_ok=True)
        return 2
    watcher = threading.Thread(target=the_runner.run, args=(stop,), name="watch", daemon=True)
    watcher.start()
    try:
        while not stop.wait(1.0):
            if not watcher.is_alive():
                logging.getLogger("podrunner").error("the watch loop ended unexpectedly; stopping")
                break
    finally:
        the_runner.shutdown()
        if pid_file.exists() and pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
    return 0


def _namespaces_unavailable() -> str:
    """Why containers could not get private mount namespaces here, or "" when they can."""
    argv = ["unshare", "--mount", "--propagation", "private", "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run `{' '.join(argv)}` ({e}); install util-linux"
    if done.returncode != 0:
        return (
            f"`{' '.join(argv)}` failed: {done.stderr.strip()}; the pod runner needs root "
            "(or CAP_SYS_ADMIN) to give each container its own mounts"
        )
    return ""


if __name__ == "__main__":
    sys.exit(main())
