"""Benchmark: `model-rollout serve` against the same app on uvicorn, and MLServer, in one run.

Peers: "uvicorn" is our own App (routes, model, JSON) behind uvicorn with httptools and uvloop
(bench/uvicorn_app.py), so only the HTTP layer differs: it decides whether our hand-kept HTTP/1.1
server earns its keep (the rule: at least 1.3x uvicorn's requests/s at an equal p99). "mlserver"
is MLServer's scikit-learn runtime, the server people would otherwise deploy.

Same estimator (saved as skops for us, joblib for MLServer), same machine, same load generator
(wrk on loopback, one thread, a Lua script for the POST body), at 1 and 2 worker processes and for
1-row and 32-row requests. Prints requests/s and p50/p99 for each, the ratios to ours, and the
ceiling: what the model's own predict() allows on this machine, so the servers' overhead is visible.

uvicorn comes from the project's `bench` extra (pip install -e '.[bench]'). MLServer is installed
into its own virtualenv (never a project dependency) on first use. MLServer 1.7 with uvloop 0.23
crashes in its parallel inference pool ("There is no current event loop"), so it runs with
parallel_workers: 0: inference in its single server process. Its "2 workers" rows are therefore
the same single-process MLServer, measured again in the same run.

    .venv/bin/python bench/serve.py [--peers uvicorn,mlserver] [--duration 5] [--rounds 3]
                                    [--connections 16] [--workers 1,2] [--rows 1,32]
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Iterator
from pathlib import Path

import httpx
import joblib
import numpy as np
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

MLSERVER_VERSION = "1.7.1"
DEFAULT_VENV = Path.home() / ".cache" / "model-rollout-bench" / "mlserver-venv"
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


def ours(skops_path: Path, workers: int, workdir: Path) -> contextlib.AbstractContextManager[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "modelrollout.cli", "serve", "--model-uri",
           f"file://{skops_path}", "--model-name", "iris", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers)]  # fmt: skip
    return process(cmd, url=f"http://127.0.0.1:{port}", log=workdir / f"ours-{workers}.log")


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


def mlserver(binary: Path, mls_dir: Path, workdir: Path) -> contextlib.AbstractContextManager[str]:
    port = free_port()
    root = mls_dir.parent
    (root / "settings.json").write_text(json.dumps({
        "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(),
        "host": "127.0.0.1", "parallel_workers": 0,
    }))  # fmt: skip
    (mls_dir / "model-settings.json").write_text(json.dumps({
        "name": "iris", "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }))  # fmt: skip
    return process([str(binary), "start", str(root)], url=f"http://127.0.0.1:{port}",
                   log=workdir / "mlserver.log", cwd=root)  # fmt: skip


def body(rows: np.ndarray) -> str:
    return json.dumps({"inputs": [{"name": "input-0", "shape": list(rows.shape),
                                   "datatype": "FP64", "data": rows.ravel().tolist()}]})  # fmt: skip


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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--peers", default="uvicorn,mlserver", help="uvicorn and/or mlserver")
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
    binary = ensure_mlserver(args.mlserver_venv) if "mlserver" in peers else None
    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    skops_path, mls_dir, x, estimator = make_models(workdir)
    rng = np.random.default_rng(0)
    payloads = {n: body(x[rng.choice(len(x), size=n)]) for n in args.rows}
    print(f"wrk: 1 thread, {args.connections} connections; per point the median of {args.rounds} "
          f"rounds of {args.duration}s, the servers' order rotating each round, after a 2s "
          f"warm-up; model: LogisticRegression on iris; {os.cpu_count()} CPUs; uvicorn "
          f"{_version('uvicorn')} (httptools, uvloop) serving our App; MLServer "
          f"{MLSERVER_VERSION} with parallel_workers: 0 (its pool crashes with uvloop 0.23)\n")  # fmt: skip
    results = []
    for workers in args.workers:
        for rows, payload in payloads.items():
            with contextlib.ExitStack() as stack:
                urls = {"ours": stack.enter_context(ours(skops_path, workers, workdir))}
                if "uvicorn" in peers:
                    urls["uvicorn"] = stack.enter_context(uvicorn(skops_path, workers, workdir))
                if binary is not None:
                    urls["mlserver"] = stack.enter_context(mlserver(binary, mls_dir, workdir))
                names = list(urls)
                for name in names[1:]:
                    check_same_answers(urls["ours"], urls[name], payload)
                script = lua(payload, workdir)
                for url in urls.values():
                    warm_up(url, script, connections=args.connections)
                runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
                # Rounds rotate which server goes first, so that a burst of load from
                # elsewhere on the machine does not land on one server only.
                for round_ in range(args.rounds):
                    shift = round_ % len(names)
                    for name in names[shift:] + names[:shift]:
                        runs[name].append(wrk(urls[name], script, duration=args.duration,
                                              connections=args.connections))  # fmt: skip
                medians = {name: median_of(runs[name]) for name in names}
            ceiling = predict_ceiling(estimator, x[:rows], workers)
            results.append((workers, rows, medians, ceiling))
            print(f"  measured workers={workers} rows={rows}", flush=True)
    print()
    header = (f"{'workers':>7} {'rows':>4} {'server':>8} | {'req/s':>8} {'p50 ms':>7} "
              f"{'p99 ms':>7} | {'ours/it req/s':>13} {'ours/it p99':>11} | "
              f"{'predict ceiling req/s':>21}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for workers, rows, medians, ceiling in results:
        a = medians["ours"]
        for name, b in medians.items():
            ratios = (f"{a['rps'] / b['rps']:>13.2f} {a['p99'] / b['p99']:>11.2f}"
                      if name != "ours" else f"{'':>13} {'':>11}")  # fmt: skip
            print(f"{workers:>7} {rows:>4} {name:>8} | {b['rps']:>8.0f} {b['p50']:>7.2f} "
                  f"{b['p99']:>7.2f} | {ratios} | {ceiling:>21.0f}")  # fmt: skip
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
