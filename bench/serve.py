"""Benchmark: `model-rollout serve` against the same app on uvicorn, and MLServer, over REST and
gRPC, in one run.

Peers: "uvicorn" is our own App (routes, model, JSON) behind uvicorn with httptools and uvloop
(bench/uvicorn_app.py), so only the HTTP layer differs: it decides whether our hand-kept HTTP/1.1
server earns its keep (the rule: at least 1.3x uvicorn's requests/s at an equal p99). "mlserver"
is MLServer's scikit-learn runtime, the server people would otherwise deploy.

Same estimator (saved as skops for us, joblib for MLServer), same machine, same load generator
(wrk on loopback, one thread, a Lua script for the POST body), at 1 and 2 worker processes and for
1-row and 32-row requests. Prints requests/s and p50/p99 for each, the ratios to ours, and the
ceiling: what the model's own predict() allows on this machine, so the servers' overhead is visible.

gRPC (`--protocols rest,grpc`): ours and MLServer's `inference.GRPCInferenceService/ModelInfer`,
the rows in raw_input_contents as tritonclient sends them, loaded by ghz (a Go gRPC load generator,
installed with `go install` into the cache on first use) with as many connections as wrk's, one
stream each; its descriptor comes from our in-code messages. gRPC ratios are to our gRPC, REST
ratios to our REST; REST and gRPC figures come from different load generators.

uvicorn comes from the project's `bench` extra (pip install -e '.[bench]'). MLServer is installed
into its own virtualenv (never a project dependency) on first use. MLServer 1.7 with uvloop 0.23
crashes in its parallel inference pool ("There is no current event loop"), so it runs with
parallel_workers: 0: inference in its single server process. Its "2 workers" rows are therefore
the same single-process MLServer, measured again in the same run.

    .venv/bin/python bench/serve.py [--peers uvicorn,mlserver] [--protocols rest,grpc]
                                    [--duration 5] [--rounds 3] [--connections 16]
                                    [--workers 1,2] [--rows 1,32]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import functools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import joblib
import numpy as np
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

MLSERVER_VERSION = "1.7.1"
CACHE = Path.home() / ".cache" / "model-rollout-bench"
DEFAULT_VENV = CACHE / "mlserver-venv"
GHZ_MODULE = "github.com/bojand/ghz/cmd/ghz@v0.120.0"
INFER_RPC = "inference.GRPCInferenceService.ModelInfer"
STARTUP_SECONDS = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_mlserver(venv: Path) -> Path:
    binary = venv / "bin" / "mlserver"
    if binary.exists():
        return binary
    print(f"installing mlserver {MLSERVER_VERSION} into {venv} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q",
         f"mlserver=={MLSERVER_VERSION}", f"mlserver-sklearn=={MLSERVER_VERSION}"],
        check=True,
    )  # fmt: skip
    return binary


def ensure_ghz() -> Path:
    binary = CACHE / "bin" / "ghz"
    if binary.exists():
        return binary
    print(f"building ghz ({GHZ_MODULE}) into {binary.parent} (once) ...", flush=True)
    subprocess.run(["go", "install", GHZ_MODULE], check=True,
                   env={**os.environ, "GOBIN": str(binary.parent)})  # fmt: skip
    return binary


def protoset(workdir: Path) -> Path:
    """Our in-code gRPC messages as a descriptor set file, which ghz reads instead of a .proto."""
    from google.protobuf import descriptor_pb2

    from modelrollout.serving import grpc_messages

    path = workdir / "grpc_predict_v2.protoset"
    files = descriptor_pb2.FileDescriptorSet(file=[grpc_messages.file_proto()])
    path.write_bytes(files.SerializeToString())
    return path


def make_models(workdir: Path) -> tuple[Path, Path, np.ndarray, LogisticRegression]:
    x, y = load_iris(return_X_y=True)
    estimator = LogisticRegression(max_iter=1000).fit(x, y)
    skops_path = workdir / "iris.skops"
    skops.io.dump(estimator, skops_path)
    mls_dir = workdir / "mlserver" / "iris"
    mls_dir.mkdir(parents=True)
    joblib.dump(estimator, mls_dir / "model.joblib")
    return skops_path, mls_dir, x, estimator


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v2/models/iris/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"server at {url} not ready in {STARTUP_SECONDS}s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def process(
    cmd: list[str], *, url: str, log: Path, cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[str]:  # fmt: skip
    with log.open("wb") as out:
        # A session of its own, so that stopping it reaches MLServer's child processes too.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                start_new_session=True)  # fmt: skip
    try:
        wait_ready(url, proc, log)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def ours(skops_path: Path, workers: int, workdir: Path) -> Iterator[tuple[str, str]]:
    port, grpc_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "modelrollout.cli", "serve", "--model-uri",
           f"file://{skops_path}", "--model-name", "iris", "--host", "127.0.0.1",
           "--port", str(port), "--grpc-port", str(grpc_port), "--workers", str(workers)]  # fmt: skip
    with process(cmd, url=f"http://127.0.0.1:{port}", log=workdir / f"ours-{workers}.log") as url:
        yield url, f"127.0.0.1:{grpc_port}"


def uvicorn(
    skops_path: Path, workers: int, workdir: Path
) -> contextlib.AbstractContextManager[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "uvicorn_app:create",
           "--app-dir", str(Path(__file__).parent), "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--http", "httptools", "--loop", "uvloop",
           "--no-access-log", "--log-level", "warning"]  # fmt: skip
    env = {**os.environ, "BENCH_MODEL_URI": f"file://{skops_path}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if workers > 1:  # as `model-rollout serve` does: metrics summed across workers
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-uvicorn-metrics-")
    return process(cmd, url=f"http://127.0.0.1:{port}", log=workdir / f"uvicorn-{workers}.log",
                   env=env)  # fmt: skip


@contextlib.contextmanager
def mlserver(binary: Path, mls_dir: Path, workdir: Path) -> Iterator[tuple[str, str]]:
    port, grpc_port = free_port(), free_port()
    root = mls_dir.parent
    (root / "settings.json").write_text(json.dumps({
        "http_port": port, "grpc_port": grpc_port, "metrics_port": free_port(),
        "host": "127.0.0.1", "parallel_workers": 0,
    }))  # fmt: skip
    (mls_dir / "model-settings.json").write_text(json.dumps({
        "name": "iris", "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }))  # fmt: skip
    with process([str(binary), "start", str(root)], url=f"http://127.0.0.1:{port}",
                 log=workdir / "mlserver.log", cwd=root) as url:  # fmt: skip
        yield url, f"127.0.0.1:{grpc_port}"


def body(rows: np.ndarray) -> str:
    return json.dumps({"inputs": [{"name": "input-0", "shape": list(rows.shape),
                                   "datatype": "FP64", "data": rows.ravel().tolist()}]})  # fmt: skip


def grpc_request(rows: np.ndarray) -> dict[str, object]:
    """A ModelInfer request in protobuf's JSON form, as ghz takes it: the rows as raw contents."""
    raw = np.ascontiguousarray(rows, dtype="<f8").tobytes()
    return {"model_name": "iris",
            "inputs": [{"name": "input-0", "datatype": "FP64", "shape": list(rows.shape)}],
            "raw_input_contents": [base64.b64encode(raw).decode()]}  # fmt: skip


def grpc_labels(address: str, rows: np.ndarray) -> list[float]:
    """The predicted labels a gRPC server answers, read from raw or typed output contents."""
    import grpc
    from google.protobuf import json_format

    from modelrollout.serving import grpc_messages as pb

    request = json_format.ParseDict(grpc_request(rows), pb.ModelInferRequest())
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(f"/{INFER_RPC.rsplit('.', 1)[0]}/ModelInfer",
                                   request_serializer=pb.ModelInferRequest.SerializeToString,
                                   response_deserializer=pb.ModelInferResponse.FromString)  # fmt: skip
        answer = call(request, timeout=10)
    out = answer.outputs[0]
    if answer.raw_output_contents:
        dtype = {"INT64": "<i8", "INT32": "<i4", "FP64": "<f8", "FP32": "<f4"}[out.datatype]
        return [float(v) for v in np.frombuffer(answer.raw_output_contents[0], dtype=dtype)]
    contents = out.contents
    return [float(v) for v in (contents.int64_contents or contents.int_contents
                               or contents.fp64_contents or contents.fp32_contents)]  # fmt: skip


def check_same_answers(url_a: str, url_b: str, payload: str) -> None:
    answers = []
    for url in (url_a, url_b):
        r = httpx.post(f"{url}/v2/models/iris/infer", content=payload,
                       headers={"content-type": "application/json"}, timeout=10)  # fmt: skip
        r.raise_for_status()
        answers.append([float(v) for v in r.json()["outputs"][0]["data"]])
    if answers[0] != answers[1]:
        raise SystemExit(f"the servers disagree: {answers[0]} vs {answers[1]}")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def lua(payload: str, workdir: Path) -> Path:
    script = workdir / f"post-{len(payload)}.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(payload)}\n"
    )
    return script


def warm_up(url: str, script: Path, *, connections: int) -> None:
    # Connection set-up and first-call costs are not what is measured.
    subprocess.run(["wrk", "-t1", f"-c{connections}", "-d2s", "-s", str(script),
                    f"{url}/v2/models/iris/infer"], check=True, capture_output=True)  # fmt: skip


def wrk(url: str, script: Path, *, duration: int, connections: int) -> dict[str, float]:
    target = f"{url}/v2/models/iris/infer"
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), target],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")

    def latency(pct: str) -> float:
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * _UNITS[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": latency("50"), "p99": latency("99")}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def ghz(
    binary: Path, address: str, request: str, protos: Path, *, duration: int, connections: int
) -> dict[str, float]:
    out = subprocess.run(
        [str(binary), "--insecure", "--protoset", str(protos), "--call", INFER_RPC, "-d", request,
         "-c", str(connections), "--connections", str(connections), "-z", f"{duration}s",
         "--format", "json", address],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    report = json.loads(out)
    errors = report.get("errorDistribution") or {}
    # When -z runs out, ghz closes its connections under the calls still in flight (at most one
    # per connection) and counts them as errors; any other error is the server's.
    cut = sum(n for e, n in errors.items() if "use of closed network connection" in e
              or "context canceled" in e)  # fmt: skip
    if sum(errors.values()) - cut or cut > connections:
        raise SystemExit(f"ghz saw errors at {address}: {errors}")
    percentiles = {p["percentage"]: p["latency"] / 1e6 for p in report["latencyDistribution"]}
    return {"rps": report["rps"], "p50": percentiles[50], "p99": percentiles[99]}


def predict_ceiling(estimator: LogisticRegression, rows: np.ndarray, workers: int) -> float:
    """Requests/s if a request cost nothing but predict(): the bound no server can beat."""
    times = []
    for _ in range(300):
        start = time.perf_counter()
        estimator.predict(rows)
        times.append(time.perf_counter() - start)
    return workers / statistics.median(times)


def ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


@dataclasses.dataclass(frozen=True)
class Tools:
    skops_path: Path
    mls_dir: Path
    workdir: Path
    peers: list[str]
    protocols: list[str]
    mlserver: Path | None
    ghz: Path | None
    protos: Path


def measure_point(
    args: argparse.Namespace, *, workers: int, rows: np.ndarray, payload: str, tools: Tools
) -> dict[str, dict[str, float]]:
    """Medians per "<server> <protocol>" at one worker count and batch, all servers up at once."""
    connections, duration = args.connections, args.duration
    with contextlib.ExitStack() as stack:
        urls, grpcs = {}, {}
        urls["ours"], grpcs["ours"] = stack.enter_context(
            ours(tools.skops_path, workers, tools.workdir)
        )
        if "uvicorn" in tools.peers:
            urls["uvicorn"] = stack.enter_context(uvicorn(tools.skops_path, workers, tools.workdir))
        if tools.mlserver is not None:
            urls["mlserver"], grpcs["mlserver"] = stack.enter_context(
                mlserver(tools.mlserver, tools.mls_dir, tools.workdir)
            )
        for name in list(urls)[1:]:
            check_same_answers(urls["ours"], urls[name], payload)
        script = lua(payload, tools.workdir)
        # Every (server, protocol) measured, each a closure over its load generator.
        measure: dict[str, Callable[[], dict[str, float]]] = {}
        if "rest" in tools.protocols:
            for name, url in urls.items():
                warm_up(url, script, connections=connections)
                measure[f"{name} rest"] = functools.partial(
                    wrk, url, script, duration=duration, connections=connections
                )
        if tools.ghz is not None:
            request = json.dumps(grpc_request(rows))
            expected = grpc_labels(grpcs["ours"], rows)
            for name, address in grpcs.items():
                if grpc_labels(address, rows) != expected:
                    raise SystemExit(f"the gRPC answers of ours and {name} disagree")
                run = functools.partial(ghz, tools.ghz, address, request, tools.protos,
                                        connections=connections)  # fmt: skip
                run(duration=2)  # warm-up
                measure[f"{name} grpc"] = functools.partial(run, duration=duration)
        names = list(measure)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        # Rounds rotate which server goes first, so that a burst of load from
        # elsewhere on the machine does not land on one server only.
        for round_ in range(args.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                runs[name].append(measure[name]())
        return {name: median_of(runs[name]) for name in names}


def print_table(results: list[tuple[int, int, dict[str, dict[str, float]], float]]) -> None:
    print()
    header = (f"{'workers':>7} {'rows':>4} {'server':>13} | {'req/s':>8} {'p50 ms':>7} "
              f"{'p99 ms':>7} | {'ours/it req/s':>13} {'ours/it p99':>11} | "
              f"{'predict ceiling req/s':>21}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for workers, rows, medians, ceiling in results:
        # REST rows, then gRPC rows, ours first in each.
        order = sorted(medians, key=lambda n: (n.split()[1] != "rest", not n.startswith("ours")))
        for name in order:
            b = medians[name]
            server, protocol = name.split()
            a = medians[f"ours {protocol}"]
            ratios = (f"{a['rps'] / b['rps']:>13.2f} {a['p99'] / b['p99']:>11.2f}"
                      if server != "ours" else f"{'':>13} {'':>11}")  # fmt: skip
            print(f"{workers:>7} {rows:>4} {name:>13} | {b['rps']:>8.0f} {b['p50']:>7.2f} "
                  f"{b['p99']:>7.2f} | {ratios} | {ceiling:>21.0f}")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--peers", default="uvicorn,mlserver", help="uvicorn and/or mlserver")
    p.add_argument("--protocols", default="rest,grpc", help="rest and/or grpc")
    p.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are shown")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (1 thread)")
    p.add_argument("--workers", type=ints, default=[1, 2], help="worker counts, e.g. 1,2")
    p.add_argument("--rows", type=ints, default=[1, 32], help="rows per request, e.g. 1,32")
    p.add_argument("--mlserver-venv", type=Path, default=DEFAULT_VENV)
    args = p.parse_args()
    peers = [name for name in args.peers.split(",") if name]
    unknown = set(peers) - {"uvicorn", "mlserver"}
    if unknown or not peers:
        raise SystemExit(f"--peers {args.peers!r}: name uvicorn and/or mlserver")
    protocols = [name for name in args.protocols.split(",") if name]
    if set(protocols) - {"rest", "grpc"} or not protocols:
        raise SystemExit(f"--protocols {args.protocols!r}: name rest and/or grpc")
    binary = ensure_mlserver(args.mlserver_venv) if "mlserver" in peers else None
    ghz_binary = ensure_ghz() if "grpc" in protocols else None
    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    protos = protoset(workdir)
    skops_path, mls_dir, x, estimator = make_models(workdir)
    rng = np.random.default_rng(0)
    batches = {n: x[rng.choice(len(x), size=n)] for n in args.rows}
    payloads = {n: body(rows) for n, rows in batches.items()}
    print(f"wrk: 1 thread, {args.connections} connections; per point the median of {args.rounds} "
          f"rounds of {args.duration}s, the servers' order rotating each round, after a 2s "
          f"warm-up; model: LogisticRegression on iris; {os.cpu_count()} CPUs; uvicorn "
          f"{_version('uvicorn')} (httptools, uvloop) serving our App; MLServer "
          f"{MLSERVER_VERSION} with parallel_workers: 0 (its pool crashes with uvloop 0.23); "
          f"gRPC: ghz with {args.connections} connections, one stream each, same durations\n")  # fmt: skip
    tools = Tools(skops_path=skops_path, mls_dir=mls_dir, workdir=workdir, peers=peers,
                  protocols=protocols, mlserver=binary, ghz=ghz_binary, protos=protos)  # fmt: skip
    results = []
    for workers in args.workers:
        for rows, payload in payloads.items():
            medians = measure_point(
                args, workers=workers, rows=batches[rows], payload=payload, tools=tools
            )
            ceiling = predict_ceiling(estimator, x[:rows], workers)
            results.append((workers, rows, medians, ceiling))
            print(f"  measured workers={workers} rows={rows}", flush=True)
    print_table(results)
    return 0


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        raise SystemExit(
            f"{package} is not installed: pip install -e '.[bench]' (or pass --peers mlserver)"
        ) from None


if __name__ == "__main__":
    sys.exit(main())
