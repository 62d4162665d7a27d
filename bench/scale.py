"""Benchmark: N ModelDeployments rolled out at once on one operator, beside Argo Rollouts on the same bed.

Usage: python bench/scale.py [--sizes 100,300,1000] [--no-peer] [--per-namespace 100]
       python bench/scale.py --soak [--soak-objects 300] [--soak-minutes 30] [--reroll-minutes 3]

The test bed is the scale variant (`python -m testbed up --kwok-pods`, bed MODEL_ROLLOUT_TESTBED,
default `scale`): kwok's pod stages make every pod Ready without a process and complete a Job's pod
with the validator's verdict in its termination message. bench/scale_exporter.py serves each
object's canary metrics (10 requests/s, a tenth of the objects 20% 500s) to the bed's real
Prometheus, which both controllers query. Per size and system, on fresh namespaces and a fresh
controller process: N objects are created at version 1 and left to settle; then every one is moved
to version 2 at once and the figures are taken until all have ended.

Ours: validation Job, setWeight 20, pause 5s, analysis (error_rate <= 0.05, every 5s, 3 rounds),
promotion. Argo (rollouts-controller from its Go module, testbed/build-binaries.sh argo): the same
steps, validation as a Job-provider analysis step, the analysis as a Prometheus AnalysisTemplate.

Figures:
  end s          from the first version change to the last object ending (promoted/rolled back)
  write p50/p99  from a change being due (a child seen by this script's watch: validation Job or
                 AnalysisRun done, canary pods ready, new stable ready with no old pod left,
                 analysis done) to the parent's status showing it, both as seen by the same
                 watches; printed by kind of change too, beside the API server's own time for
                 the controller's status writes (from the audit log: the floor under it) and,
                 for ours, its work-queue waits and turn durations from its /metrics
  RSS MiB        the controller's peak resident set during the rollouts (sampled each second)
  CPU s          the controller's user+system CPU during the rollouts
  API/rollout    the controller's requests in the API server's audit log, per rollout
  prom/rollout   Prometheus' /api/v1/query(_range) requests, per rollout
  left           objects in the namespaces beyond those at version 1's steady state, plus
                 ReplicaSets at 0 replicas and pods that are not running (by kind)
  wrong          objects whose end phase is not the one their metrics call for
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the testbed package

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

from testbed import __main__ as bed
from testbed import cluster, paths, procs, prometheus

HERE = Path(__file__).resolve().parent
BED = os.environ.get("MODEL_ROLLOUT_TESTBED", "scale")
AGENT = "scale-bench"
MD = ("modelrollout.io", "v1alpha1", "modeldeployments")
ROLLOUT = ("argoproj.io", "v1alpha1", "rollouts")
RUN = ("argoproj.io", "v1alpha1", "analysisruns")
ARGO_MODULE = Path.home() / "go/pkg/mod/github.com/argoproj"
FAIL_EVERY = 10  # every tenth object's canary answers 20% 500s: it must roll back
ERROR_RATIO = 0.2
MAX_ERROR = 0.05
# Kinds counted for what is left behind (events expire on their own and are not counted).
KINDS = (
    "deployments,replicasets,pods,services,jobs,configmaps,secrets,serviceaccounts,"
    "persistentvolumeclaims"
)
ARGO_KINDS = "analysisruns.argoproj.io,experiments.argoproj.io"
SYSTEM_AGENTS = ("kube-", "kwok", "kubectl", "Prometheus", AGENT)


# A change seen by the watches: when, whose, what of the parent's status shows it, and what it is.
Due = tuple[float, tuple[str, str], Callable[[dict[str, Any]], bool], str]


def say(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the bed, the exporter, watches


@dataclass
class Bed:
    kubeconfig: Path
    prometheus_url: str
    api: k8s.ApiClient
    exporter_plan: Path
    exporter: subprocess.Popen[bytes] | None = None

    @property
    def custom(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(self.api)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return cluster.kubectl(*args, cluster=BED, input=input, check=check)

    def plan(self, entries: list[dict[str, Any]]) -> None:
        tmp = self.exporter_plan.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries))
        tmp.replace(self.exporter_plan)


def bring_up() -> Bed:
    if not (cluster.running(BED) and bed.load_state(BED).get("pods") == "kwok"):
        bed.up(BED, build=False, kwok_pods=True)
    state = bed.load_state(BED)
    cluster.kubectl("apply", "--server-side", "-f", str(paths.REPO / "crds"), cluster=BED)
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/modeldeployments.modelrollout.io", cluster=BED
    )
    kubeconfig = paths.kubeconfig(BED)
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    api.user_agent = AGENT
    api.configuration.connection_pool_maxsize = 32
    sd = paths.state_dir(BED)
    plan = sd / "scale-plan.json"
    plan.write_text("[]")
    port = procs.free_port()
    exporter = subprocess.Popen(
        [sys.executable, str(HERE / "scale_exporter.py"), str(port), str(plan)],
        start_new_session=True,
    )
    procs.wait_for_port(host="127.0.0.1", port=port, timeout=20, what="exporter", log=None)
    job = {
        "scrape_configs": [
            {
                "job_name": "scale-exporter",
                "honor_labels": True,
                "scrape_interval": "2s",
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            }
        ]
    }
    (prometheus.scrape_dir(sd) / "scale.yml").write_text(json.dumps(job))
    urllib.request.urlopen(
        urllib.request.Request(f"{state['prometheus_url']}/-/reload", method="POST"), timeout=10
    ).read()
    return Bed(kubeconfig, state["prometheus_url"], api, plan, exporter)


@dataclass
class Event:
    t: float
    kind: str
    type: str
    ns: str
    name: str
    obj: dict[str, Any]


@dataclass
class Recorder:
    """Cluster-wide watches of the kinds that matter, every event kept with its arrival time."""

    api: k8s.ApiClient
    namespaces: set[str]
    events: list[Event] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def watch(self, kind: str, lister: Callable[..., Any]) -> None:
        def run() -> None:
            rv = None
            while not self.stop.is_set():
                w = k8s_watch.Watch()
                kw: dict[str, Any] = {"timeout_seconds": 30, "allow_watch_bookmarks": True}
                if rv:
                    kw["resource_version"] = rv
                try:
                    for ev in w.stream(lister, **kw):
                        obj = ev["object"]
                        if not isinstance(obj, dict):
                            obj = self.api.sanitize_for_serialization(obj)
                        meta = obj.get("metadata") or {}
                        rv = meta.get("resourceVersion") or rv
                        if ev["type"] == "BOOKMARK" or meta.get("namespace") not in self.namespaces:
                            continue
                        self.events.append(
                            Event(
                                time.monotonic(),
                                kind,
                                ev["type"],
                                meta["namespace"],
                                meta["name"],
                                obj,
                            )
                        )
                        if self.stop.is_set():
                            break
                except k8s.ApiException as e:
                    if e.status == 410:
                        rv = None
                except Exception:
                    time.sleep(0.5)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)

    def close(self) -> None:
        self.stop.set()


def watch_custom(api: k8s.ApiClient, gvp: tuple[str, str, str]) -> Callable[..., Any]:
    custom = k8s.CustomObjectsApi(api)

    def lister(**kw: Any) -> Any:
        return custom.list_cluster_custom_object(*gvp, **kw)

    return lister


# ---------------------------------------------------------------- the controllers


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    rss_peak: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def sample(self) -> None:
        def run() -> None:
            while not self._stop.wait(1.0):
                with contextlib.suppress(OSError):
                    r = self.rss()
                    self.samples.append((time.monotonic(), r))
                    self.rss_peak = max(self.rss_peak, r)

        threading.Thread(target=run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@dataclass
class System:
    name: str
    short: str

    def start(self, b: Bed, log: Path) -> Proc: ...
    def setup_namespace(self, b: Bed, ns: str) -> None: ...
    def manifest(self, *, b: Bed, ns: str, name: str, version: str) -> dict[str, Any]: ...
    def ended(self, obj: dict[str, Any], version: str) -> str | None:
        """'promoted' / 'rolled_back' once the object has ended its rollout to `version`."""

    def watches(self, rec: Recorder) -> None: ...
    def latencies(
        self, events: list[Event], final: dict[tuple[str, str], str], *, version: str = "2"
    ) -> list[tuple[str, float]]: ...


def _start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Proc:
    with log.open("ab") as out:
        p = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
    return Proc(p)


class Ours(System):
    def __init__(self) -> None:
        super().__init__("model-rollout", "ours")
        self.port = 0

    def start(self, b: Bed, log: Path) -> Proc:
        self.port = procs.free_port()
        proc = _start(
            [
                str(paths.VENV_BIN / "model-rollout"), "operator", "--image", "model-rollout:bench",
                "--metrics-address", f"127.0.0.1:{self.port}",
            ],
            log,
            env={"KUBECONFIG": str(b.kubeconfig)},
        )  # fmt: skip
        procs.wait_for_port(host="127.0.0.1", port=self.port, timeout=60, what="operator", log=log)
        return proc

    def setup_namespace(self, b: Bed, ns: str) -> None:
        pass

    def inside(self, before: dict[str, float]) -> str:
        after = operator_metrics(self.port)
        n, mean, p50, p99 = histogram("modelrollout_reconcile_duration_seconds", before, after)
        _, qmean, q50, q99 = histogram("modelrollout_workqueue_wait_seconds", before, after)
        return (
            f"{n} reconciles, mean {mean:.3f}s, p50 <= {p50:g}s, p99 <= {p99:g}s; "
            f"queue wait mean {qmean:.3f}s, p50 <= {q50:g}s, p99 <= {q99:g}s"
        )

    def manifest(self, *, b: Bed, ns: str, name: str, version: str) -> dict[str, Any]:
        return {
            "apiVersion": "modelrollout.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "model": {"name": name, "version": version, "uri": f"https://models.invalid/{name}/{version}.skops"},
                "serving": {"replicas": 1},
                "validation": {
                    "dataset": {"uri": "https://data.invalid/test.csv", "format": "csv", "target": "y"},
                    "thresholds": {"accuracy": {"min": 0.9}},
                    "timeout": "10m",
                },
                "rollout": {
                    "steps": [{"setWeight": 20}, {"pause": {"duration": "5s"}}, {"analysis": {}}],
                    "progressDeadline": "20m",
                },
                "analysis": {
                    "prometheus": {"address": b.prometheus_url},
                    "interval": "5s",
                    "count": 3,
                    "failureLimit": 0,
                    "inconclusiveLimit": 20,
                    "consecutiveErrorLimit": 20,
                    "metrics": [{"name": "error_rate", "max": MAX_ERROR}],
                },
                "rollback": {"automatic": True},
            },
        }  # fmt: skip

    def ended(self, obj: dict[str, Any], version: str) -> str | None:
        st = obj.get("status") or {}
        if (obj.get("spec") or {}).get("model", {}).get("version") != version:
            return None
        if st.get("phase") == "Healthy" and st.get("stableVersion") == version:
            return "promoted"
        if st.get("phase") in ("RolledBack", "Failed"):
            return "rolled_back" if st.get("phase") == "RolledBack" else "failed"
        return None

    def watches(self, rec: Recorder) -> None:
        apps, batch = k8s.AppsV1Api(rec.api), k8s.BatchV1Api(rec.api)
        rec.watch("parent", watch_custom(rec.api, MD))
        rec.watch("deployment", apps.list_deployment_for_all_namespaces)
        rec.watch("job", batch.list_job_for_all_namespaces)

    def latencies(
        self, events: list[Event], final: dict[tuple[str, str], str], *, version: str = "2"
    ) -> list[tuple[str, float]]:
        dues: list[Due] = []
        seen: set[tuple[str, str, str]] = set()
        for ev in events:
            o = ev.obj
            if ev.kind == "job":
                md = o["metadata"].get("labels", {}).get("app.kubernetes.io/name", "")
                if (o.get("status") or {}).get("succeeded") and (ev.ns, md, "job") not in seen:
                    seen.add((ev.ns, md, "job"))
                    dues.append(
                        (
                            ev.t,
                            (ev.ns, md),
                            lambda s: bool((s.get("validation") or {}).get("passed")),
                            "validated",
                        )
                    )
            elif ev.kind == "deployment":
                md, _, track = ev.name.rpartition("-")
                spec, st = o.get("spec") or {}, o.get("status") or {}
                tmpl = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
                # Rolled out: the desired pods are new and ready, and no pod of an older
                # ReplicaSet is left (the operator moves traffic only then; until the Deployment
                # controller has removed it, nothing is due yet).
                ready = (
                    (st.get("readyReplicas") or 0) >= (spec.get("replicas") or 0) > 0
                    and (st.get("updatedReplicas") or 0) >= spec["replicas"]
                    and (st.get("replicas") or 0) <= spec["replicas"]
                    and (st.get("observedGeneration") or 0)
                    >= (o["metadata"].get("generation") or 0)
                )
                v = tmpl.get("modelrollout.io/version")
                if track == "canary" and ready and (ev.ns, md, "canary") not in seen:
                    seen.add((ev.ns, md, "canary"))
                    dues.append(
                        (
                            ev.t,
                            (ev.ns, md),
                            lambda s: (s.get("actualCanaryWeight") or 0) > 0,
                            "canary ready",
                        )
                    )
                if (
                    track == "stable"
                    and ready
                    and v == version
                    and (ev.ns, md, "stable") not in seen
                ):
                    seen.add((ev.ns, md, "stable"))
                    dues.append(
                        (ev.t, (ev.ns, md), lambda s: s.get("phase") == "Healthy", "promoted")
                    )
        return _pair(events, dues)


class Argo(System):
    def __init__(self) -> None:
        super().__init__("Argo Rollouts", "argo")

    @staticmethod
    def module() -> Path:
        stamp = (paths.BIN / ".argo.version").read_text().strip()
        return ARGO_MODULE / f"argo-rollouts@{stamp}"

    def start(self, b: Bed, log: Path) -> Proc:
        b.kubectl("apply", "--server-side", "-k", str(self.module() / "manifests" / "crds"))
        for crd in ("rollouts", "analysisruns", "analysistemplates"):
            b.kubectl("wait", "--for=condition=Established", f"crd/{crd}.argoproj.io")
        return _start(
            [
                str(paths.binary("rollouts-controller")), "--kubeconfig", str(b.kubeconfig),
                "--leader-elect=false", "--metricsport", str(procs.free_port()),
                "--healthzPort", str(procs.free_port()), "--loglevel", "warn",
            ],
            log,
        )  # fmt: skip

    def setup_namespace(self, b: Bed, ns: str) -> None:
        sel = '{namespace="{{args.namespace}}",model="{{args.model}}",track="canary"'
        query = (
            f'sum(rate(model_requests_total{sel},code=~"5.."}}[10s])) / '
            f"sum(rate(model_requests_total{sel}}}[10s]))"
        )
        templates = [
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AnalysisTemplate",
                "metadata": {"name": "error-rate", "namespace": ns},
                "spec": {
                    "args": [{"name": "model"}, {"name": "namespace"}],
                    "metrics": [
                        {
                            "name": "error-rate", "interval": "5s", "count": 3, "failureLimit": 0,
                            "consecutiveErrorLimit": 20, "inconclusiveLimit": 3,
                            "successCondition": f"result[0] <= {MAX_ERROR}",
                            "provider": {"prometheus": {"address": b.prometheus_url, "query": query}},
                        }
                    ],
                },
            },
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AnalysisTemplate",
                "metadata": {"name": "validate", "namespace": ns},
                "spec": {
                    "metrics": [
                        {
                            "name": "validate",
                            "provider": {"job": {"spec": {"backoffLimit": 0, "template": {"spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "validate", "image": "model-rollout:bench"}],
                            }}}}},
                        }
                    ]
                },
            },
        ]  # fmt: skip
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": templates})
        # An Established CRD can still be missing from kubectl's cached discovery for a moment:
        # "no matches for kind" then, and the next try finds it.
        for _ in range(30):
            try:
                b.kubectl("apply", "-f", "-", input=body)
            except RuntimeError as e:
                if "no matches for kind" not in str(e):
                    raise
                time.sleep(1)
            else:
                return
        b.kubectl("apply", "-f", "-", input=body)

    def manifest(self, *, b: Bed, ns: str, name: str, version: str) -> dict[str, Any]:
        labels = {"app": name}
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": {**labels, "version": version}},
                    "spec": {"containers": [{"name": "server", "image": "model-rollout:bench",
                                             "env": [{"name": "MODEL_VERSION", "value": version}]}]},
                },
                "strategy": {"canary": {"steps": [
                    {"analysis": {"templates": [{"templateName": "validate"}]}},
                    {"setWeight": 20},
                    {"pause": {"duration": "5s"}},
                    {"analysis": {"templates": [{"templateName": "error-rate"}], "args": [
                        {"name": "model", "value": name}, {"name": "namespace", "value": ns}]}},
                ]}},
            },
        }  # fmt: skip

    def ended(self, obj: dict[str, Any], version: str) -> str | None:
        st = obj.get("status") or {}
        tmpl = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
        if (tmpl.get("labels") or {}).get("version") != version:
            return None
        if st.get("observedGeneration") != str(obj["metadata"].get("generation")):
            return None
        if st.get("abort") and st.get("phase") == "Degraded":
            return "rolled_back"
        if st.get("phase") == "Healthy" and st.get("stableRS") == st.get("currentPodHash"):
            return "promoted"
        return None

    def watches(self, rec: Recorder) -> None:
        apps = k8s.AppsV1Api(rec.api)
        rec.watch("parent", watch_custom(rec.api, ROLLOUT))
        rec.watch("replicaset", apps.list_replica_set_for_all_namespaces)
        rec.watch("run", watch_custom(rec.api, RUN))

    def latencies(
        self, events: list[Event], final: dict[tuple[str, str], str], *, version: str = "2"
    ) -> list[tuple[str, float]]:
        dues: list[Due] = []
        seen: set[tuple[str, str, str]] = set()
        old_rs: set[tuple[str, str]] = set()
        for ev in events:
            o = ev.obj
            owner = next((r["name"] for r in o["metadata"].get("ownerReferences") or []), "")
            key = (ev.ns, owner)
            if ev.kind == "run":
                phase = (o.get("status") or {}).get("phase")
                step = (
                    "validate"
                    if ev.name.startswith(f"{owner}-")
                    and "validate" in json.dumps(o["spec"].get("metrics", []))
                    else "analysis"
                )
                if phase in ("Successful", "Failed", "Error") and (ev.ns, owner, step) not in seen:
                    seen.add((ev.ns, owner, step))
                    if step == "validate":
                        dues.append(
                            (
                                ev.t,
                                key,
                                lambda s: int(s.get("currentStepIndex") or 0) >= 1,
                                "validated",
                            )
                        )
                    elif phase == "Successful":
                        dues.append(
                            (
                                ev.t,
                                key,
                                lambda s: s.get("stableRS") == s.get("currentPodHash"),
                                "promoted",
                            )
                        )
                    else:
                        dues.append((ev.t, key, lambda s: bool(s.get("abort")), "aborted"))
            elif ev.kind == "replicaset":
                st = o.get("status") or {}
                if ev.type == "ADDED" and ev.t < events[0].t + 0.5:
                    old_rs.add((ev.ns, ev.name))
                if (ev.ns, ev.name) in old_rs or (ev.ns, owner, "canary") in seen:
                    continue
                if (st.get("readyReplicas") or 0) >= 1:
                    seen.add((ev.ns, owner, "canary"))
                    dues.append(
                        (
                            ev.t,
                            key,
                            lambda s: int(s.get("currentStepIndex") or 0) >= 2,
                            "canary ready",
                        )
                    )
        return _pair(events, dues)


def _pair(
    events: list[Event],
    dues: list[Due],
) -> list[tuple[str, float]]:
    """For each due change, the time until the parent's status (as watched) shows it; 0 if it already did."""
    parents: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for ev in events:
        if ev.kind == "parent":
            parents[(ev.ns, ev.name)].append(ev)
    out = []
    for t, key, shows, what in dues:
        before = [e for e in parents[key] if e.t <= t]
        if before and shows(before[-1].obj.get("status") or {}):
            out.append((what, 0.0))
            continue
        after = next(
            (e for e in parents[key] if e.t > t and shows(e.obj.get("status") or {})), None
        )
        if after is not None:
            out.append((what, after.t - t))
    return out


# ---------------------------------------------------------------- one measured run


@dataclass
class Figures:
    system: str
    n: int
    end_s: float
    p50: float
    p99: float
    dues: int
    rss_mib: float
    cpu_s: float
    api: float
    prom: float
    left: dict[str, int]
    wrong: int
    agents: dict[str, int]
    by_due: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    inside: str = ""
    floor: str = ""
    """The operator's own view (its /metrics): queue waits and turn durations."""


def by_due(pairs: list[tuple[str, float]]) -> dict[str, tuple[int, float, float]]:
    kinds: dict[str, list[float]] = defaultdict(list)
    for what, x in pairs:
        kinds[what].append(x)
    return {k: (len(v), _pct(sorted(v), 50), _pct(sorted(v), 99)) for k, v in sorted(kinds.items())}


_SAMPLE = re.compile(r"^(\w+)(\{[^}]*\})? ([0-9.eE+-]+|NaN|[+-]Inf)$")


def operator_metrics(port: int) -> dict[str, float]:
    """Our operator's /metrics as {name{labels}: value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and not m.group(1).endswith("_created"):
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def histogram(
    name: str, before: dict[str, float], after: dict[str, float]
) -> tuple[int, float, float, float]:
    """Observations of histogram `name` in between: count, mean, and p50/p99 as the upper bound
    of the bucket that holds them."""
    count = int(after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0))
    total = after.get(f"{name}_sum", 0) - before.get(f"{name}_sum", 0)
    buckets = sorted(
        (float(k.split('le="')[1].split('"')[0]), v - before.get(k, 0))
        for k, v in after.items()
        if k.startswith(f"{name}_bucket")
    )

    def q(p: float) -> float:
        return next((le for le, cum in buckets if count and cum >= p * count), math.nan)

    return count, (total / count if count else math.nan), q(0.5), q(0.99)


def audit_offset() -> int:
    return cluster.audit_log(BED).stat().st_size


_AGENT = re.compile(rb'"userAgent":"([^"]*)"')


_STATUS_WRITE = re.compile(
    rb'"verb":"(?:patch|update)".*"subresource":"status".*"requestReceivedTimestamp":"([^"]+)",'
    rb'"stageTimestamp":"([^"]+)"'
)


def audit_status_writes(since: int, agent: str) -> tuple[int, float, float]:
    """The API server's own time for the controller's status writes (received -> response done):
    the floor under the write latency, whatever the controller does."""
    took: list[float] = []
    needle = f'"userAgent":"{agent}'.encode()
    with cluster.audit_log(BED).open("rb") as f:
        f.seek(since)
        for line in f:
            if needle in line and (m := _STATUS_WRITE.search(line)):
                a, z = (
                    datetime.fromisoformat(x.decode().replace("Z", "+00:00")) for x in m.groups()
                )
                took.append((z - a).total_seconds())
    took.sort()
    return len(took), _pct(took, 50), _pct(took, 99)


def audit_counts(since: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    with cluster.audit_log(BED).open("rb") as f:
        f.seek(since)
        for line in f:
            m = _AGENT.search(line)
            agent = m.group(1).decode() if m else "?"
            if not agent.startswith(SYSTEM_AGENTS):
                counts[agent.split(" ")[0]] += 1
    return counts


def prom_queries(url: str) -> float:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and re.search(
            r'handler="/api/v1/query(_range)?"', line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def inventory(b: Bed, namespaces: list[str], *, argo: bool) -> Counter[str]:
    kinds = KINDS + ("," + ARGO_KINDS if argo else "")
    out: Counter[str] = Counter()
    for ns in namespaces:
        items = json.loads(b.kubectl("get", kinds, "-n", ns, "-o", "json"))["items"]
        for o in items:
            kind, st, spec = o["kind"], o.get("status") or {}, o.get("spec") or {}
            out[kind] += 1
            if kind == "ReplicaSet" and not spec.get("replicas"):
                out["ReplicaSet at 0"] += 1
            if kind == "Pod" and st.get("phase") != "Running":
                out[f"Pod {st.get('phase')}"] += 1
    return out


def left_behind(before: Counter[str], after: Counter[str]) -> dict[str, int]:
    debris = {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
    for k in ("ReplicaSet at 0", "Pod Succeeded", "Pod Failed", "Pod Pending"):
        if after.get(k):
            debris[k] = after[k]
    return debris


def create_all(b: Bed, objs: list[dict[str, Any]], sysm: System) -> None:
    group, version, plural = ROLLOUT if isinstance(sysm, Argo) else MD
    custom = b.custom

    def one(o: dict[str, Any]) -> None:
        for attempt in range(5):
            try:
                custom.create_namespaced_custom_object(
                    group, version, o["metadata"]["namespace"], plural, o
                )
            except k8s.ApiException as e:
                if e.status == 409 or attempt == 4:
                    raise
                time.sleep(1)
            else:
                return

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, objs))


def set_version(b: Bed, sysm: System, keys: list[tuple[str, str]], version: str) -> None:
    group, ver, plural = ROLLOUT if isinstance(sysm, Argo) else MD
    custom = b.custom

    def one(key: tuple[str, str]) -> None:
        ns, name = key
        m = sysm.manifest(b=b, ns=ns, name=name, version=version)
        custom.patch_namespaced_custom_object(group, ver, ns, plural, name, {"spec": m["spec"]})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, keys))


def wait_ended(
    b: Bed,
    sysm: System,
    keys: list[tuple[str, str]],
    version: str,
    *,
    timeout: float,
    rec: Recorder | None = None,
) -> dict[tuple[str, str], str]:
    """Until every object has ended at `version`: read from rec's parent watch events when given (a
    full list every second of a thousand objects costs this script more CPU than the controller's
    turns), else by listing."""
    group, ver, plural = ROLLOUT if isinstance(sysm, Argo) else MD
    deadline = time.monotonic() + timeout
    ended: dict[tuple[str, str], str] = {}
    wanted = set(keys)
    seen = 0
    while time.monotonic() < deadline:
        if rec is not None:
            fresh, seen = rec.events[seen:], len(rec.events)
            items = [e.obj for e in fresh if e.kind == "parent"]
        else:
            items = b.custom.list_cluster_custom_object(group, ver, plural)["items"]
        for o in items:
            k = (o["metadata"]["namespace"], o["metadata"]["name"])
            if k in wanted and k not in ended and (e := sysm.ended(o, version)):
                ended[k] = e
        if len(ended) == len(wanted):
            return ended
        time.sleep(1.0)
    say(
        f"{sysm.short}: {len(wanted) - len(ended)} of {len(wanted)} never ended at version {version}"
    )
    return ended


def expected(i: int) -> str:
    return "rolled_back" if i % FAIL_EVERY == 0 else "promoted"


def run_one(b: Bed, sysm: System, n: int, *, per_ns: int, tag: str, logdir: Path) -> Figures:
    namespaces = [f"{sysm.short}-{tag}-{n}-{k}" for k in range(math.ceil(n / per_ns))]
    keys = [(namespaces[i // per_ns], f"m{i}") for i in range(n)]
    say(f"{sysm.short} N={n}: {len(namespaces)} namespaces")
    # Started first: Argo's start installs its CRDs, which the namespaces' AnalysisTemplates need.
    proc = sysm.start(b, logdir / f"{sysm.short}-{tag}-{n}.log")
    b.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in namespaces]}))  # fmt: skip
    for ns in namespaces:
        sysm.setup_namespace(b, ns)
    b.plan([
        {"namespace": ns, "model": name, "version": "2",
         "errorRatio": ERROR_RATIO if expected(i) == "rolled_back" else 0.0}
        for i, (ns, name) in enumerate(keys)
    ])  # fmt: skip
    try:
        proc.sample()
        t_create = time.monotonic()
        create_all(b, [sysm.manifest(b=b, ns=ns, name=nm, version="1") for ns, nm in keys], sysm)
        settle = wait_first(b, sysm, keys, timeout=600 + n)
        say(
            f"{sysm.short} N={n}: version 1 up in {time.monotonic() - t_create:.0f}s ({settle} settled)"
        )
        time.sleep(5)
        before = inventory(b, namespaces, argo=isinstance(sysm, Argo))
        rec = Recorder(b.api, set(namespaces))
        sysm.watches(rec)
        time.sleep(3)
        cpu0, audit0, prom0 = proc.cpu(), audit_offset(), prom_queries(b.prometheus_url)
        m0 = operator_metrics(sysm.port) if isinstance(sysm, Ours) else {}
        proc.rss_peak = 0
        t0 = time.monotonic()
        set_version(b, sysm, keys, "2")
        final = wait_ended(b, sysm, keys, "2", timeout=900 + 2 * n, rec=rec)
        end_s = time.monotonic() - t0
        cpu = proc.cpu() - cpu0
        inside = sysm.inside(m0) if isinstance(sysm, Ours) else ""
        rss = proc.rss_peak
        prom = prom_queries(b.prometheus_url) - prom0
        time.sleep(2)
        rec.close()
        agents = audit_counts(audit0)
        top = max(agents, key=lambda a: agents[a], default="")
        sw, sw50, sw99 = audit_status_writes(audit0, top)
        floor = f"API server's own time for {sw} status writes: p50 {sw50:.3f}s, p99 {sw99:.3f}s"
        time.sleep(40)  # what is cleaned up promptly is not debris (a failed canary goes after 30s)
        after = inventory(b, namespaces, argo=isinstance(sysm, Argo))
        pairs = sysm.latencies(rec.events, final)
        lat = sorted(x for _, x in pairs)
        wrong = sum(1 for i, k in enumerate(keys) if final.get(k) != expected(i))
        calls = sum(agents.values())
        return Figures(
            system=sysm.name, n=n, end_s=end_s,
            p50=_pct(lat, 50), p99=_pct(lat, 99), dues=len(lat),
            rss_mib=rss / 2**20, cpu_s=cpu, api=calls / n, prom=prom / n,
            left=left_behind(before, after), wrong=wrong, agents=dict(agents),
            by_due=by_due(pairs), inside=inside, floor=floor,
        )  # fmt: skip
    finally:
        proc.stop()
        b.kubectl("delete", "namespace", *namespaces, "--wait=false", check=False)


def wait_first(b: Bed, sysm: System, keys: list[tuple[str, str]], *, timeout: float) -> int:
    group, ver, plural = ROLLOUT if isinstance(sysm, Argo) else MD
    deadline, wanted = time.monotonic() + timeout, set(keys)
    while time.monotonic() < deadline:
        items = b.custom.list_cluster_custom_object(group, ver, plural)["items"]
        ok = sum(
            1 for o in items
            if (o["metadata"]["namespace"], o["metadata"]["name"]) in wanted
            and (o.get("status") or {}).get("phase") == "Healthy"
        )  # fmt: skip
        if ok == len(wanted):
            return ok
        time.sleep(2)
    raise SystemExit(f"{sysm.short}: version 1 did not become Healthy everywhere in {timeout:.0f}s")


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))]


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def table(rows: list[Figures]) -> None:
    print(f"\n{'system':<14}{'N':>6}{'end s':>8}{'write p50':>11}{'p99 s':>8}{'dues':>6}"
          f"{'RSS MiB':>9}{'CPU s':>8}{'CPU/ro':>8}{'API/ro':>8}{'prom/ro':>8}{'wrong':>6}  left behind")  # fmt: skip
    for r in rows:
        left = ", ".join(f"{k} {v}" for k, v in sorted(r.left.items())) or "0"
        print(f"{r.system:<14}{r.n:>6}{r.end_s:>8.0f}{r.p50:>11.3f}{r.p99:>8.3f}{r.dues:>6}"
              f"{r.rss_mib:>9.0f}{r.cpu_s:>8.1f}{r.cpu_s / r.n:>8.3f}{r.api:>8.1f}{r.prom:>8.1f}{r.wrong:>6}  {left}")  # fmt: skip
    by = {(r.system, r.n): r for r in rows}
    for r in rows:
        peer = by.get(("Argo Rollouts", r.n))
        if r.system == "model-rollout" and peer is not None:
            print(f"N={r.n}: ours/Argo RSS {r.rss_mib / peer.rss_mib:.2f}, CPU per rollout "
                  f"{(r.cpu_s / r.n) / max(peer.cpu_s / peer.n, 1e-9):.2f}, API per rollout "
                  f"{r.api / max(peer.api, 1e-9):.2f}, end time {r.end_s / peer.end_s:.2f}")  # fmt: skip
    for r in rows:
        print(f"{r.system} N={r.n} API requests by agent: {r.agents}")
        dues = ", ".join(f"{k} {n}: {a:.2f}/{z:.2f}" for k, (n, a, z) in r.by_due.items())
        print(f"{r.system} N={r.n} write p50/p99 s by due: {dues}")
        if r.inside:
            print(f"{r.system} N={r.n} inside the operator: {r.inside}")
        print(f"{r.system} N={r.n} {r.floor}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", default="100,300,1000")
    p.add_argument("--no-peer", action="store_true", help="ours only")
    p.add_argument("--peer-only", action="store_true", help="Argo Rollouts only")
    p.add_argument("--per-namespace", type=int, default=100)
    p.add_argument("--soak", action="store_true")
    p.add_argument("--soak-objects", type=int, default=300)
    p.add_argument("--soak-minutes", type=float, default=30)
    p.add_argument("--reroll-minutes", type=float, default=3)
    args = p.parse_args(argv)
    b = bring_up()
    logdir = paths.state_dir(BED) / "scale-logs"
    logdir.mkdir(parents=True, exist_ok=True)
    tag = time.strftime("%H%M")
    try:
        if args.soak:
            from bench import scale_soak

            return scale_soak.soak(b, Ours(), n=args.soak_objects, minutes=args.soak_minutes,
                                   period=args.reroll_minutes * 60, logdir=logdir, tag=tag)  # fmt: skip
        systems: list[System] = []
        if not args.peer_only:
            systems.append(Ours())
        if not args.no_peer:
            if (paths.BIN / "rollouts-controller").exists():
                systems.append(Argo())
            else:
                say("rollouts-controller is not built: bash testbed/build-binaries.sh argo")
        rows = []
        say(f"load average at start: {load()}")
        for n in (int(x) for x in args.sizes.split(",")):
            for s in systems:
                rows.append(run_one(b, s, n, per_ns=args.per_namespace, tag=tag, logdir=logdir))
                table(rows[-1:])
        say(f"load average at end: {load()}")
        table(rows)
    finally:
        if b.exporter is not None:
            os.killpg(b.exporter.pid, signal.SIGTERM)
    return 0


if __name__ == "__main__":
    sys.exit(main())
