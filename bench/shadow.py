"""Benchmark: the stable server's latency with shadowing on against off, in one run.

"off" is `model-rollout serve` alone; "on" is the same server with --shadow-url pointing at a
second server that runs as a shadow (--mirror-percent, 100 by default) on the same machine, so
every answered request is also queued for copying by the stable's background thread. The rule
(issue 13): the stable's p99 with shadowing on stays within 10% of off. The rounds alternate
off/on so drift on a shared machine hits both; medians are shown. wrk on loopback, one thread, a
Lua script for the POST body; 1-row requests, paced (wrk's delay(): each connection waits
--pace-ms between requests, a steady load below what the machine can do, as a serving pod sees it)
and flat out (the machine saturated, where the shadow's own inference takes CPU from the stable). Beside the figures: how many copies the shadow
answered and how many were dropped (queue full), so it is plain that shadowing really ran.

In a cluster the shadow runs on pods of its own; here it shares this machine's CPUs with the
stable, so by default it runs at nice 19 (it gets the CPU the stable leaves, and copies it cannot
take in time are dropped, as designed); what remains is the stable's own cost of shadowing (the
queue, the forwarding thread). --shadow-nice 0 shows the two competing.

    .venv/bin/python bench/shadow.py [--duration 5] [--rounds 3] [--connections 4,16] [--mirror 100]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve


def server(
    skops_path: Path, workdir: Path, *, name: str, extra: list[str], nice: int = 0
) -> contextlib.AbstractContextManager[str]:
    port = serve.free_port()
    cmd = ["nice", "-n", str(nice), sys.executable, "-m", "modelrollout.cli", "serve", "--model-uri",
           f"file://{skops_path}", "--model-name", "iris", "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1", *extra]  # fmt: skip
    return serve.process(cmd, url=f"http://127.0.0.1:{port}", log=workdir / f"{name}.log")


def counters(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        for key in ("model_shadow_mirrored_total", "model_shadow_dropped_total"):
            if line.startswith(key + "{") and 'reason="error"' not in line:
                out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


@contextlib.contextmanager
def stacks(skops_path: Path, workdir: Path, mirror: int, nice: int) -> Iterator[dict[str, str]]:
    with (
        server(skops_path, workdir, name="shadow", nice=nice,
               extra=["--mirror-percent", str(mirror), "--track", "canary"]) as shadow_url,
        server(skops_path, workdir, name="off", extra=[]) as off,
        server(skops_path, workdir, name="on", extra=["--shadow-url", shadow_url]) as on,
    ):  # fmt: skip
        yield {"off": off, "on": on}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are shown")
    p.add_argument("--connections", type=serve.ints, default=[4, 16], help="wrk connections")
    p.add_argument("--mirror", type=int, default=100, help="percent the shadow asks for")
    p.add_argument(
        "--shadow-nice", type=int, default=19,
        help="the shadow's nice value: 19 leaves the CPU to the stable first, as the shadow's own "
        "pods on other nodes would; 0 makes them compete",
    )  # fmt: skip
    p.add_argument(
        "--pace-ms", type=int, default=10,
        help="paced rows: each connection waits this long between requests (0: none)",
    )  # fmt: skip
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as tmp:
        workdir = Path(tmp)
        skops_path, _, x, _ = serve.make_models(workdir)
        flat_out = serve.lua(serve.body(x[:1]), workdir)
        paced = workdir / "paced.lua"
        paced.write_text(flat_out.read_text() + f"function delay() return {args.pace_ms} end\n")
        print(f"wrk: 1 thread; 1-row requests; paced ({args.pace_ms} ms between a connection's "
              "requests: a steady load below the machine's limit) and flat out; per point the "
              f"median of {args.rounds} rounds of {args.duration}s; the shadow asks for "
              f"{args.mirror}% at nice {args.shadow_nice}")  # fmt: skip
        print(f"{'conns':>5} {'mode':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'p99 on/off':>10} {'copied':>8} {'dropped':>8}")  # fmt: skip
        with stacks(skops_path, workdir, args.mirror, args.shadow_nice) as urls:
            import time

            time.sleep(3)  # the mirror's first probe of the shadow (serving/shadow.py)
            loads = [(c, "paced", paced) for c in args.connections if args.pace_ms > 0]
            loads += [(c, "flat-out", flat_out) for c in args.connections]
            for conns, load, script in loads:
                print(f"-- {load}, {conns} connections")
                runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
                for url in urls.values():
                    serve.warm_up(url, script, connections=conns)
                before = counters(urls["on"])
                for _ in range(args.rounds):
                    for mode, url in urls.items():
                        runs[mode].append(
                            serve.wrk(url, script, duration=args.duration, connections=conns)
                        )
                after = counters(urls["on"])
                med = {mode: serve.median_of(r) for mode, r in runs.items()}
                ratio = med["on"]["p99"] / med["off"]["p99"]
                for mode in ("off", "on"):
                    m = med[mode]
                    extra = ""
                    if mode == "on":
                        copied = after.get("model_shadow_mirrored_total", 0) - before.get(
                            "model_shadow_mirrored_total", 0
                        )
                        dropped = after.get("model_shadow_dropped_total", 0) - before.get(
                            "model_shadow_dropped_total", 0
                        )
                        extra = f"{ratio:>10.2f} {copied:>8.0f} {dropped:>8.0f}"
                    print(f"{conns:>5} {mode:>4} {m['rps']:>9.0f} {m['p50']:>8.2f} "
                          f"{m['p99']:>8.2f} {extra}")  # fmt: skip
                spread = statistics.pstdev(r["p99"] for r in runs["off"])
                print(f"{'':>5} off p99 spread across rounds (stdev): {spread:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
