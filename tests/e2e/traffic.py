"""Live traffic for the end-to-end tests: OIP v2 requests to a Service, each followed by its feedback.

Each exchange goes to the Service's ClusterIP on a connection of its own, as an in-cluster client's
would: kube-proxy picks the pod per connection, and the feedback follows its prediction to the pod
that holds it. It only sends inside this machine's test bed (`traffic_endpoints` guards where) and
stops by itself after `max_duration_s`.
"""

from __future__ import annotations

import os
import random
import ssl
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx

from tests.e2e import traffic_stats
from tests.e2e.traffic_endpoints import (  # the public surface of this module, for the tests
    NotLoopbackError,
    cluster_ip_endpoint,
    require_loopback,
    require_service_address,
)

__all__ = [
    "NotLoopbackError",
    "TrafficGenerator",
    "cluster_ip_endpoint",
    "require_loopback",
    "require_service_address",
]

REFRESH_S = 1.0  # the Service is read again this often: it may be made after the generator starts
MAX_DURATION_S = 15 * 60.0  # a forgotten generator must not outlive the test session
# Requests in flight at once. Open loop, as real clients are: a slow version does not slow the
# rate down, and its share of requests stays its share of endpoints.
CONCURRENCY = 8
Endpoint = traffic_stats.Endpoint


class TrafficGenerator:
    """Sends `rate_per_s` single-row requests from a background thread, each followed by its truth.

    Row, endpoint and whether to send feedback are drawn from one `seed`ed generator; the requests
    themselves go out on up to `concurrency` worker threads. They go to the Service's ClusterIP,
    read from `api_client`, or to `endpoints` on loopback when given (the generator's own tests).
    """

    def __init__(
        self,
        api_client: Any,
        *,
        namespace: str,
        service: str,
        model: str,
        rows: Sequence[Sequence[float]],
        truth: Sequence[Any],
        rate_per_s: float,
        feedback: bool = True,
        feedback_fraction: float = 1.0,
        seed: int = 0,
        endpoints: Sequence[Endpoint] | None = None,
        port_name: str | None = None,
        max_duration_s: float = MAX_DURATION_S,
        timeout_s: float = 5.0,
        concurrency: int = CONCURRENCY,
    ) -> None:
        # Lists or numpy arrays alike; numpy scalars become plain numbers JSON can carry.
        self._rows = [[float(v) for v in row] for row in rows]
        self._truth = [t.item() if hasattr(t, "item") else t for t in truth]
        if len(self._rows) != len(self._truth) or not self._rows:
            raise ValueError(
                f"rows ({len(self._rows)}) and truth ({len(self._truth)}) must be equally long, "
                "not empty"
            )
        if not 0 < rate_per_s <= 1000 or not 0.0 <= feedback_fraction <= 1.0 or concurrency < 1:
            raise ValueError(
                "rate_per_s must be in (0, 1000], feedback_fraction in [0, 1], concurrency >= 1"
            )
        if endpoints is None and api_client is None:
            raise ValueError(
                "give an api_client to read the Service from, or a fixed endpoints list"
            )
        for host, _ in endpoints or ():
            require_loopback(host)
        self._api, self._namespace = api_client, namespace
        self._service, self._port_name = service, port_name
        self._path = f"/v2/models/{model}"
        self._rate, self._feedback, self._fraction = rate_per_s, feedback, feedback_fraction
        self._rng = random.Random(seed)
        self._fixed = list(endpoints) if endpoints is not None else None
        # One context for every exchange's client: the traffic is plain HTTP, and loading the
        # CA bundle per connection would cost more CPU than the requests.
        self._tls = ssl.create_default_context()
        self._endpoints: list[Endpoint] = list(endpoints or [])
        self._max_s, self._timeout = max_duration_s, timeout_s
        self._ids = os.urandom(4).hex()  # unique across generators, so two never mix their feedback
        self._samples: list[traffic_stats.Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.refresh_errors: list[str] = []
        self._concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self.expired = False  # it stopped because max_duration_s passed
        self.dropped = 0  # requests not sent because `concurrency` requests were still in flight

    # -- control ----------------------------------------------------------------------------
    def start(self) -> TrafficGenerator:
        if self._thread is not None:
            raise RuntimeError("this generator was started already; make a new one")
        self._thread = threading.Thread(
            target=self._run, name=f"traffic-{self._service}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending; re-raises what broke the thread (a non-loopback endpoint, a bug)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout * 2 + 5)
        if self.failure is not None:
            raise RuntimeError(f"the traffic generator failed: {self.failure}") from self.failure

    def __enter__(self) -> TrafficGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints)

    def samples(self) -> list[traffic_stats.Sample]:
        with self._lock:
            return list(self._samples)

    def stats(
        self,
        *,
        since: float | datetime | None = None,
        until: float | datetime | None = None,
        window_s: float = 5.0,
    ) -> traffic_stats.Stats:
        return traffic_stats.summarize(self.samples(), since=since, until=until, window_s=window_s)

    # -- the threads ---------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            with ThreadPoolExecutor(self._concurrency, thread_name_prefix="traffic") as pool:
                self._loop(pool)
        except BaseException as e:  # surfaced by stop(): a test must not pass on a dead thread
            self.failure = e

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        begun = time.monotonic()
        refreshed = -REFRESH_S
        sent = 0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - begun >= self._max_s:
                self.expired = True
                return
            if self._fixed is None and now - refreshed >= REFRESH_S:
                self._refresh()
                refreshed = now
            due = begun + sent / self._rate
            if now < due:
                self._stop.wait(min(due - now, REFRESH_S))
                continue
            if now - due > 1.0:  # fell behind (a stalled machine): skip ahead rather than burst
                sent = int((now - begun) * self._rate)
            self._dispatch(pool, sent)
            sent += 1

    def _dispatch(self, pool: ThreadPoolExecutor, n: int) -> None:
        """Decide here (one thread, so a seed replays the same choices); send on a worker."""
        at, index = time.time(), self._rng.randrange(len(self._rows))
        feedback = self._feedback and self._rng.random() < self._fraction
        if not self._endpoints:
            self._record(traffic_stats.Sample(at, None, code=0, error="no Service address yet"))
            return
        endpoint = self._rng.choice(self._endpoints)
        self._require_allowed(endpoint[0])  # checked again right before every send
        if not self._slots.acquire(blocking=False):
            self.dropped += 1  # every worker waits on a slow answer: an open-loop client drops
            return
        pool.submit(self._send, n=n, at=at, index=index, endpoint=endpoint, feedback=feedback)

    def _require_allowed(self, host: str) -> None:
        if self._fixed is None:
            require_service_address(host)
        else:
            require_loopback(host)

    def _send(
        self,
        *,
        n: int,
        at: float,
        index: int,
        endpoint: Endpoint,
        feedback: bool,
    ) -> None:
        try:
            # A connection per exchange: kube-proxy balances connections, not requests, and the
            # feedback must reach the pod that holds its prediction.
            with httpx.Client(timeout=self._timeout, trust_env=False, verify=self._tls) as http:
                self._record(
                    self._exchange(
                        http, n=n, at=at, index=index, endpoint=endpoint, feedback=feedback
                    )
                )
        except BaseException as e:  # a bug here must stop the run, not vanish in a worker
            self.failure = e
            self._stop.set()
        finally:
            self._slots.release()

    def _exchange(
        self,
        http: httpx.Client,
        *,
        n: int,
        at: float,
        index: int,
        endpoint: Endpoint,
        feedback: bool,
    ) -> traffic_stats.Sample:
        """One infer request and, when it succeeded and `feedback`, the truth of its row."""
        host, port = endpoint
        self._require_allowed(host)
        base, request_id, row = (
            f"http://{host}:{port}{self._path}",
            f"tg-{self._ids}-{n}",
            self._rows[index],
        )
        tensor = {"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}
        started = time.perf_counter()
        try:
            response = http.post(f"{base}/infer", json={"id": request_id, "inputs": [tensor]})
        except httpx.HTTPError as e:
            seconds = time.perf_counter() - started
            return traffic_stats.Sample(at, endpoint, 0, seconds=seconds, error=type(e).__name__)
        seconds = time.perf_counter() - started
        fed = None
        if response.status_code == 200 and feedback:
            fed = self._send_feedback(http, base, request_id, self._truth[index])
        return traffic_stats.Sample(
            at,
            endpoint,
            response.status_code,
            version=_version(response),
            seconds=seconds,
            feedback=fed,
            error="" if response.status_code == 200 else response.text[:200],
        )

    def _refresh(self) -> None:
        try:
            found = cluster_ip_endpoint(
                self._api, namespace=self._namespace, service=self._service,
                port_name=self._port_name,
            )  # fmt: skip
        except Exception as e:  # the API server may blink: keep the last address and go on
            self.refresh_errors.append(f"{type(e).__name__}: {e}")
            return
        self._require_allowed(found[0])
        self._endpoints = [found]

    def _send_feedback(self, http: httpx.Client, base: str, request_id: str, truth: Any) -> int:
        try:
            return http.post(
                f"{base}/feedback", json={"id": request_id, "truth": [truth]}
            ).status_code
        except httpx.HTTPError:
            return 0

    def _record(self, sample: traffic_stats.Sample) -> None:
        with self._lock:
            self._samples.append(sample)


def _version(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return None
    try:
        version = response.json().get("model_version")
    except ValueError:
        return None
    return str(version) if version is not None else None
