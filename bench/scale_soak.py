"""The soak of bench/scale.py (`--soak`): N ModelDeployments on one operator, all re-rolled every few minutes.

Per round every object is moved to the next version at once (a tenth of them fail analysis and roll
back, as in the scale run) and the round ends when all have ended. Printed per round: how long it took,
the status-write latency (due -> written, as in scale.py), the operator's turn durations from its own
/metrics histogram, its peak RSS and CPU, the objects its watches hold, and wrong end phases. At the end:
RSS growth after the first 5 minutes (must stay under 10%), the last rounds' turns against the first
rounds', and objects left behind.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import scale

WARMUP_S = 300.0  # RSS growth is counted from the first round that ends after this
RSS_LIMIT = 0.10


@dataclass
class Round:
    number: int
    at_s: float
    took_s: float
    p50: float
    p99: float
    turns: int
    turn_mean: float
    turn_p99: float
    rss_mib: float
    cpu_s: float
    cached: float
    wrong: int


def soak(
    b: scale.Bed,
    sysm: Any,
    *,
    n: int,
    minutes: float,
    period: float,
    logdir: Path,
    tag: str,
    per_ns: int = 100,
) -> int:
    namespaces = [f"soak-{tag}-{k}" for k in range(math.ceil(n / per_ns))]
    keys = [(namespaces[i // per_ns], f"m{i}") for i in range(n)]
    scale.say(
        f"soak: {n} objects in {len(namespaces)} namespaces, a round every {period:.0f}s for {minutes:g} min"
    )
    proc = sysm.start(b, logdir / f"soak-{tag}.log")
    b.kubectl("apply", "-f", "-", input=scale.json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in namespaces]}))  # fmt: skip
    rounds: list[Round] = []
    try:
        proc.sample()
        scale.create_all(
            b, [sysm.manifest(b=b, ns=ns, name=nm, version="1") for ns, nm in keys], sysm
        )
        scale.wait_first(b, sysm, keys, timeout=600 + n)
        before = scale.inventory(b, namespaces, argo=False)
        t_start = time.monotonic()
        version = 1
        while time.monotonic() - t_start < minutes * 60:
            version += 1
            v = str(version)
            b.plan([
                {"namespace": ns, "model": name, "version": v,
                 "errorRatio": scale.ERROR_RATIO if scale.expected(i) == "rolled_back" else 0.0}
                for i, (ns, name) in enumerate(keys)
            ])  # fmt: skip
            rec = scale.Recorder(b.api, set(namespaces))
            sysm.watches(rec)
            time.sleep(2)
            m0, cpu0 = scale.operator_metrics(sysm.port), proc.cpu()
            proc.rss_peak = 0
            t0 = time.monotonic()
            scale.set_version(b, sysm, keys, v)
            final = scale.wait_ended(b, sysm, keys, v, timeout=max(period * 3, 600), rec=rec)
            took = time.monotonic() - t0
            time.sleep(1)
            rec.close()
            m1 = scale.operator_metrics(sysm.port)
            lat = sorted(x for _, x in sysm.latencies(rec.events, final, version=v))
            turns, mean, _, p99 = scale.histogram("modelrollout_reconcile_duration_seconds", m0, m1)
            r = Round(
                number=version - 1, at_s=time.monotonic() - t_start, took_s=took,
                p50=scale._pct(lat, 50), p99=scale._pct(lat, 99), turns=turns,
                turn_mean=mean, turn_p99=p99, rss_mib=proc.rss_peak / 2**20,
                cpu_s=proc.cpu() - cpu0, cached=m1.get("modelrollout_cached_objects", math.nan),
                wrong=sum(1 for i, k in enumerate(keys) if final.get(k) != scale.expected(i)),
            )  # fmt: skip
            rounds.append(r)
            print_rounds([r], header=len(rounds) == 1)
            rest = period - (time.monotonic() - t0)
            if rest > 0 and time.monotonic() - t_start + rest < minutes * 60:
                time.sleep(rest)
        time.sleep(40)  # as in scale.py: what is cleaned up promptly is not debris
        left = scale.left_behind(before, scale.inventory(b, namespaces, argo=False))
        summary(rounds, proc.samples, t_start=t_start, left=left, n=n)
    finally:
        proc.stop()
        b.kubectl("delete", "namespace", *namespaces, "--wait=false", check=False)
    return 0


def print_rounds(rows: list[Round], *, header: bool = True) -> None:
    if header:
        print(f"\n{'round':>5}{'at min':>8}{'took s':>8}{'write p50':>10}{'p99 s':>8}{'turns':>7}"
              f"{'turn ms':>9}{'p99 ms':>8}{'RSS MiB':>9}{'CPU s':>7}{'cached':>8}{'wrong':>6}")  # fmt: skip
    for r in rows:
        print(f"{r.number:>5}{r.at_s / 60:>8.1f}{r.took_s:>8.0f}{r.p50:>10.3f}{r.p99:>8.3f}{r.turns:>7}"
              f"{r.turn_mean * 1000:>9.0f}{r.turn_p99 * 1000:>8.0f}{r.rss_mib:>9.0f}{r.cpu_s:>7.1f}"
              f"{r.cached:>8.0f}{r.wrong:>6}", flush=True)  # fmt: skip


def summary(
    rounds: list[Round],
    samples: list[tuple[float, int]],
    *,
    t_start: float,
    left: dict[str, int],
    n: int,
) -> None:
    print_rounds(rounds)
    after = [(t - t_start, r) for t, r in samples if t - t_start >= WARMUP_S]
    if after:
        base = max(r for t, r in after if t < WARMUP_S + 60) / 2**20
        last = max(r for t, r in after if t >= after[-1][0] - 300) / 2**20
        growth = last / base - 1
        print(f"RSS: peak in minute 5-6 {base:.0f} MiB, peak in the last 5 minutes {last:.0f} MiB: "
              f"growth {growth:+.1%} (limit +{RSS_LIMIT:.0%}): {'ok' if growth < RSS_LIMIT else 'FAIL'}")  # fmt: skip
    k = max(1, min(2, len(rounds) // 3))
    first, last_r = rounds[:k], rounds[-k:]

    def avg(rs: list[Round], f: str) -> float:
        return sum(getattr(r, f) for r in rs) / len(rs)

    for f, what in (
        ("turn_mean", "turn mean s"),
        ("p99", "status-write p99 s"),
        ("took_s", "round s"),
    ):
        a, z = avg(first, f), avg(last_r, f)
        print(f"{what}: first {k} rounds {a:.3f}, last {k} rounds {z:.3f}: "
              f"{'ok (not slower)' if z <= a * 1.05 else 'SLOWER at the end'}")  # fmt: skip
    wrong = sum(r.wrong for r in rounds)
    print(f"soak: {len(rounds)} rounds of {n} objects over {rounds[-1].at_s / 60:.1f} min; "
          f"wrong end phases {wrong}; left behind: {', '.join(f'{k} {v}' for k, v in sorted(left.items())) or '0'}")  # fmt: skip
