"""The demo: a model rolled out safely, start to finish, on the local test bed's real node (or any cluster).

    make demo                       # the local test bed: built and cached on first use, taken down at the end
    make demo ARGS=--keep           # the same, leaving the bed running to look around
    make demo ARGS="--kubeconfig ~/.kube/config --context kind-kind"   # an existing cluster

It builds our image and loads it into the node, installs the Helm chart with it (the kind workflow's
own steps, .github/scripts/e2e-steps.sh), deploys iris v1, sends live traffic with ground-truth
feedback through the Service's ClusterIP, then rolls out a good v2 (validated, canaried, promoted)
and a bad v3 (passes offline, loses accuracy online, rolled back by itself), showing the rollout as
it happens and a summary at the end. The example manifests are applied as they are: the image holds
the models they name, and the bed's Prometheus answers at prometheus.monitoring:9090.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from modelrollout.plugin import render  # noqa: E402
from testbed import __main__ as testbed_cli  # noqa: E402
from testbed import cluster as testbed_cluster  # noqa: E402
from testbed import node, paths  # noqa: E402

NAMESPACE = "demo"
RELEASE = "model-rollout"  # the name e2e-steps.sh installs the chart under
OPERATOR_NS = "model-rollout-system"
# The image as testbed/build-image.sh names it and the node's containerd holds it.
LOCAL_IMAGE = "localhost/model-rollout:dev"
STEPS = REPO / ".github" / "scripts" / "e2e-steps.sh"
TRAFFIC_PER_S = 20
# What a traffic line covers: two scrapes' worth, so a share shown is recent but not noise.
TRAFFIC_WINDOW_S = 10.0
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

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        ctx = ["--context", self.context] if self.context else []
        done = subprocess.run(
            [self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *ctx, *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def md(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(
            self.kubectl("get", "md", "iris", "-n", NAMESPACE, "-o", "json")
        )
        return out


def manifest(name: str, *, prometheus: str | None) -> str:
    """An example manifest as it is, its Prometheus address replaced when one is given."""
    doc = yaml.safe_load((REPO / "examples" / name).read_text())
    if prometheus and "analysis" in doc["spec"]:
        doc["spec"]["analysis"]["prometheus"]["address"] = prometheus
    return json.dumps(doc)


def run_step(step: str, *, env: dict[str, str]) -> None:
    """One step of the kind workflow's script, its output shown as it comes."""
    done = subprocess.run(["bash", str(STEPS), step], env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{STEPS.relative_to(REPO)} {step} failed (exit {done.returncode})")


def steps_env(
    kubeconfig: Path, *, image: str, pull_policy: str, containerd: Path | None
) -> dict[str, str]:
    repository, _, tag = image.rpartition(":")
    env = {
        **os.environ,
        "PATH": f"{paths.BIN}:{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(kubeconfig),
        "IMAGE_REPOSITORY": repository,
        "IMAGE_TAG": tag,
        "IMAGE_PULL_POLICY": pull_policy,
        "OPERATOR_NAMESPACE": OPERATOR_NS,
        "APP_NAMESPACE": NAMESPACE,
    }
    if containerd is not None:
        env["CONTAINERD_ADDRESS"] = str(containerd)
    return env


def follow(cluster: Cluster, *, until: set[str], timeout: float, traffic: Any) -> dict[str, Any]:
    """Shows the rollout as it happens (the kubectl plugin's status view, and the traffic's recent
    answers per version) until a phase in `until`."""
    deadline, last = time.monotonic() + timeout, ""
    generation = cluster.md()["metadata"]["generation"]
    while True:
        obj = cluster.md()
        status = obj.get("status") or {}
        view = render.status_view(obj, now=datetime.now(UTC))
        if view != last:
            print("\033[2m" + "-" * 78 + "\033[0m")
            print(view, end="", flush=True)
            if traffic is not None:
                print(traffic_line(traffic), flush=True)
            last = view
        if status.get("phase") in until and (status.get("observedGeneration") or 0) >= generation:
            return obj
        if time.monotonic() > deadline:
            raise SystemExit(f"the rollout did not reach {sorted(until)} in {timeout:.0f}s")
        time.sleep(2)


def traffic_line(traffic: Any) -> str:
    stats = traffic.stats(since=time.time() - TRAFFIC_WINDOW_S)
    host, port = (traffic.endpoints or [("?", "?")])[0]
    answered = sum(stats.by_version.values())
    shares = ", ".join(
        f"v{v} {100 * n / answered:.0f}%" for v, n in sorted(stats.by_version.items())
    )
    codes = ", ".join(f"{c or 'none'}: {n}" for c, n in sorted(stats.by_code.items()))
    return (
        f"Traffic    through the ClusterIP {host}:{port}, last {TRAFFIC_WINDOW_S:.0f}s: "
        f"{shares or 'no answer'} (HTTP {codes or '-'})"
    )


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
        rate_per_s=TRAFFIC_PER_S,
        max_duration_s=1800,
    )
    return gen.start()


def story(cluster: Cluster, *, prometheus: str | None, local: bool, models: Path | None) -> None:
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    # Every pod the operator makes is admitted under the restricted Pod Security profile.
    cluster.kubectl(
        "label",
        "--overwrite",
        "namespace",
        NAMESPACE,
        "pod-security.kubernetes.io/enforce=restricted",
    )
    cluster.kubectl("delete", "md", "iris", "-n", NAMESPACE, "--ignore-not-found", "--wait=true")
    traffic = None
    try:
        for i, (name, title, until) in enumerate(STORY):
            say(title)
            cluster.kubectl(
                "apply", "-n", NAMESPACE, "-f", "-", input=manifest(name, prometheus=prometheus)
            )
            follow(cluster, until=until, timeout=900, traffic=traffic)
            if i == 0 and local and models is not None:
                say(
                    f"Sending live traffic ({TRAFFIC_PER_S} requests/s) with ground-truth feedback "
                    "through the Service's ClusterIP, a connection per request"
                )
                traffic = start_traffic(cluster.kubeconfig, models)
        say("Summary")
        print(render.status_view(cluster.md(), now=datetime.now(UTC)))
        if traffic is not None:
            stats = traffic.stats()
            shares = ", ".join(f"v{v}: {n}" for v, n in sorted(stats.by_version.items()))
            print(f"requests answered per version: {shares} (codes: {dict(stats.by_code)})")
    finally:
        if traffic is not None:
            traffic.stop()


def local_models() -> Path:
    """The demo models on this machine: the traffic's rows and truths (the pods read the image's)."""
    models = paths.CACHE / "demo-models"
    if not (models / "data" / "iris-online.csv").exists():
        subprocess.run(
            [sys.executable, str(REPO / "examples" / "make_models.py"), "--out", str(models)],
            check=True,
        )
    return models


def on_local_bed(*, keep: bool) -> int:
    name = paths.DEFAULT_CLUSTER
    started = not testbed_cluster.running(name)
    say(
        f"Starting the local test bed {name!r} on a real node (containerd, kubelet, kube-proxy, "
        "CoreDNS); the first run builds Kubernetes from source: ~20-30 min, cached after"
    )
    kubeconfig = paths.kubeconfig(name)
    try:
        testbed_cli.up(name)
        say("Training the demo models here too, for the traffic's rows (seconds)")
        models = local_models()
        env = steps_env(
            kubeconfig,
            image=LOCAL_IMAGE,
            pull_policy="Never",
            containerd=node.layout(name).containerd_socket,
        )
        say("Building our image from the Dockerfile (buildah, cached) and loading it into the node")
        run_step("build", env=env)
        run_step("load", env=env)
        say(f"Installing the operator with Helm (charts/model-rollout, {LOCAL_IMAGE})")
        run_step("install", env=env)
        story(Cluster(kubeconfig, None), prometheus=None, local=True, models=models)
    finally:
        if keep or not started:
            why = "as asked (--keep)" if keep else "as it was before the demo"
            print(
                f"\nThe test bed {name!r} keeps running, {why}: `export KUBECONFIG={kubeconfig}`, then "
                f"`kubectl model-rollout status iris -n {NAMESPACE}` or `kubectl get md,deploy,pods -n {NAMESPACE}`;"
                f" stop it with `MODEL_ROLLOUT_TESTBED={name} .venv/bin/python -m testbed down`"
                " (one real-node bed per machine: it holds the host's KUBE-* iptables chains)."
            )
        else:
            say(f"Taking the test bed {name!r} down (`make demo ARGS=--keep` leaves it running)")
            testbed_cli.down(name)
    return 0


def on_cluster(kubeconfig: Path, *, context: str | None, image: str, prometheus: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        # e2e-steps.sh reads KUBECONFIG's current context: give it the chosen one alone.
        view = Cluster(kubeconfig, context).kubectl("config", "view", "--minify", "--flatten")
        chosen = Path(tmp) / "kubeconfig"
        chosen.write_text(view)
        chosen.chmod(0o600)
        # The image must be on the nodes already (`kind load docker-image`) or pullable.
        env = steps_env(chosen, image=image, pull_policy="IfNotPresent", containerd=None)
        say(f"Installing the operator with Helm (charts/model-rollout, {image})")
        run_step("install", env=env)
        story(Cluster(chosen, None), prometheus=prometheus, local=False, models=None)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kubeconfig", type=Path, help="use this cluster instead of the local test bed"
    )
    parser.add_argument("--context")
    parser.add_argument(
        "--prometheus",
        help="with --kubeconfig: the Prometheus address the operator reads "
        "(default: the manifests' http://prometheus.monitoring:9090)",
    )
    parser.add_argument(
        "--image",
        default="model-rollout:dev",
        help=f"with --kubeconfig: the operator image (repository:tag); the local bed uses {LOCAL_IMAGE}",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the local test bed running at the end"
    )
    args = parser.parse_args(argv)
    if args.kubeconfig is None:
        if args.context or args.prometheus:
            parser.error("--context and --prometheus go with --kubeconfig (an existing cluster)")
        return on_local_bed(keep=args.keep)
    return on_cluster(
        args.kubeconfig.expanduser(),
        context=args.context,
        image=args.image,
        prometheus=args.prometheus,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
