"""The demo: a model rolled out safely, start to finish, on the local test bed (or any cluster).

    make demo                       # local test bed: built and cached on first use
    make demo ARGS="--kubeconfig ~/.kube/config --context kind-kind"   # an existing cluster

It installs the Helm chart, deploys iris v1, sends live traffic with ground-truth feedback, then rolls
out a good v2 (validated, canaried, promoted) and a bad v3 (passes offline, loses accuracy online,
rolled back by itself), showing the rollout as it happens and a summary at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from modelrollout.plugin import render  # noqa: E402
from testbed import __main__ as testbed_cli  # noqa: E402
from testbed import paths  # noqa: E402

NAMESPACE = "demo"
RELEASE = "model-rollout"
OPERATOR_NS = "model-rollout-system"
STORY = [
    ("iris.yaml", "v1: the first version deploys straight to Healthy", {"Healthy"}),
    (
        "iris-v2.yaml",
        "v2: a better model, validated offline, then canaried and promoted",
        {"Healthy"},
    ),
    (
        "iris-online-flip.yaml",
        "v3: passes offline, but its online accuracy drops: rolled back",
        {"RolledBack"},
    ),
]


def say(msg: str) -> None:
    print(f"\n\033[1m==> {msg}\033[0m", flush=True)


class Cluster:
    def __init__(self, kubeconfig: Path, context: str | None) -> None:
        self.kubeconfig, self.context = kubeconfig, context
        self.kubectl_bin = (
            str(paths.BIN / "kubectl") if (paths.BIN / "kubectl").exists() else "kubectl"
        )
        self.helm_bin = str(paths.BIN / "helm") if (paths.BIN / "helm").exists() else "helm"

    def _ctx(self) -> list[str]:
        return [
            "--kubeconfig",
            str(self.kubeconfig),
            *(["--context", self.context] if self.context else []),
        ]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [self.kubectl_bin, *self._ctx(), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def helm(self, *args: str) -> None:
        kube = [
            "--kubeconfig",
            str(self.kubeconfig),
            *(["--kube-context", self.context] if self.context else []),
        ]
        subprocess.run([self.helm_bin, *kube, *args], check=True)

    def md(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(
            self.kubectl("get", "md", "iris", "-n", NAMESPACE, "-o", "json")
        )
        return out


def manifest(name: str, *, models: Path, prometheus: str) -> str:
    doc = yaml.safe_load((REPO / "examples" / name).read_text())
    text = json.dumps(doc).replace("file:///opt/model-rollout/examples/", f"file://{models}/")
    doc = json.loads(text)
    if "analysis" in doc["spec"]:
        doc["spec"]["analysis"]["prometheus"]["address"] = prometheus
    return json.dumps(doc)


def follow(cluster: Cluster, *, until: set[str], timeout: float) -> dict[str, Any]:
    """Shows the rollout as it happens (the kubectl plugin's status view) until a phase in `until`."""
    deadline, last = time.monotonic() + timeout, ""
    generation = cluster.md()["metadata"]["generation"]
    while True:
        obj = cluster.md()
        status = obj.get("status") or {}
        view = render.status_view(obj, now=datetime.now(UTC))
        if view != last:
            print("\033[2m" + "-" * 78 + "\033[0m")
            print(view, flush=True)
            last = view
        if status.get("phase") in until and (status.get("observedGeneration") or 0) >= generation:
            return obj
        if time.monotonic() > deadline:
            raise SystemExit(f"the rollout did not reach {sorted(until)} in {timeout:.0f}s")
        time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kubeconfig", type=Path, help="use this cluster instead of the local test bed"
    )
    parser.add_argument("--context")
    parser.add_argument(
        "--prometheus", help="Prometheus address the analysis reads (default: the test bed's)"
    )
    parser.add_argument(
        "--image", default="model-rollout:dev", help="operator image (repository:tag)"
    )
    args = parser.parse_args(argv)

    local = args.kubeconfig is None
    if local:
        say(
            "Starting the local test bed (first run builds Kubernetes from source: ~20-30 min; cached after)"
        )
        testbed_cli.up(paths.DEFAULT_CLUSTER)
        kubeconfig = paths.kubeconfig(paths.DEFAULT_CLUSTER)
        prometheus = testbed_cli.load_state(paths.DEFAULT_CLUSTER)["prometheus_url"]
    else:
        kubeconfig = args.kubeconfig.expanduser()
        if not args.prometheus:
            parser.error(
                "--prometheus is required with --kubeconfig (the address the operator can reach)"
            )
        prometheus = args.prometheus
    cluster = Cluster(kubeconfig, args.context)

    say("Training the demo models (scikit-learn's bundled data, seconds)")
    models = paths.CACHE / "demo-models" if local else Path("/opt/model-rollout/examples")
    if local and not (models / "models" / "iris-v1.skops").exists():
        subprocess.run(
            [sys.executable, str(REPO / "examples" / "make_models.py"), "--out", str(models)],
            check=True,
        )

    say("Installing the operator with Helm (charts/model-rollout)")
    repo, _, tag = args.image.rpartition(":")
    cluster.helm(
        "upgrade",
        "--install",
        RELEASE,
        str(REPO / "charts" / "model-rollout"),
        "--namespace",
        OPERATOR_NS,
        "--create-namespace",
        "--wait",
        "--timeout",
        "5m",
        "--set",
        f"image.repository={repo}",
        "--set",
        f"image.tag={tag}",
    )
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    cluster.kubectl("delete", "md", "iris", "-n", NAMESPACE, "--ignore-not-found", "--wait=true")

    traffic = None
    try:
        for i, (name, title, until) in enumerate(STORY):
            say(title)
            cluster.kubectl(
                "apply",
                "-n",
                NAMESPACE,
                "-f",
                "-",
                input=manifest(name, models=models, prometheus=prometheus),
            )
            follow(cluster, until=until, timeout=900)
            if i == 0 and local:
                say(
                    "Sending live traffic (20 requests/s) with ground-truth feedback to the ready endpoints"
                )
                traffic = start_traffic(kubeconfig, models)
        say("Summary")
        print(render.status_view(cluster.md(), now=datetime.now(UTC)))
        if traffic is not None:
            stats = traffic.stats()
            shares = ", ".join(f"v{v}: {n}" for v, n in sorted(stats.by_version.items()))
            print(f"\nrequests answered per version: {shares} (codes: {dict(stats.by_code)})")
    finally:
        if traffic is not None:
            traffic.stop()
    if local:
        print(
            f"\nThe test bed keeps running: `export KUBECONFIG={kubeconfig}`, then "
            f"`kubectl model-rollout status iris -n {NAMESPACE}` or `kubectl get md,deploy,pods -n {NAMESPACE}`;"
            f" stop it with `.venv/bin/python -m testbed --name {paths.DEFAULT_CLUSTER} down`."
        )
    return 0


def start_traffic(kubeconfig: Path, models: Path) -> Any:
    from kubernetes import config

    from tests.e2e import support
    from tests.e2e.traffic import TrafficGenerator

    rows, truth = support.read_rows(models / "data" / "iris-online.csv", target="species")
    gen = TrafficGenerator(
        config.new_client_from_config(config_file=str(kubeconfig)),
        namespace=NAMESPACE,
        service="iris",
        model="iris",
        rows=rows,
        truth=truth,
        rate_per_s=20,
        max_duration_s=1800,
    )
    return gen.start()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
