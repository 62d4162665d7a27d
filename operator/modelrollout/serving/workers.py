"""Running the server: one process, or a supervisor that forks N workers after loading the model."""

# Why the workers share nothing on the inference path: each accepts on its own SO_REUSEPORT
# socket and answers alone, with no lock or IPC per request. Two things must still be whole across
# workers. Metrics use prometheus_client's multiprocess files, summed on every scrape. Feedback may
# reach a worker other than the one that made the prediction: that worker asks its siblings over
# private Unix sockets, so only feedback for another worker's request pays a local round trip per
# sibling. (A request id that clients reuse on two workers is held by both; the first to answer
# scores it.)

from __future__ import annotations

import asyncio
import collections
import ctypes
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

from prometheus_client import multiprocess

from modelrollout.models import loading
from modelrollout.serving import app, config, http, inputs, metrics, peers, shadow, sockets

log = logging.getLogger("modelrollout.serving")
# Kubernetes waits 30 s by default between SIGTERM and SIGKILL: finish in-flight work within 25.
DRAIN_SECONDS = 25.0
# A worker that keeps dying is a broken model or host: give up so Kubernetes restarts the pod.
CRASH_LIMIT, CRASH_WINDOW_SECONDS = 5, 60.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def run(
    *,
    settings: config.ServeConfig,
    model: loading.LoadedModel,
    reservation: socket.socket,
    reference: inputs.Reference | None = None,
) -> int:
    if settings.workers == 1:
        reservation.close()  # one process: it binds the real listening socket itself
        return _worker(settings=settings, model=model, index=0, run_dir=None, reference=reference)
    run_dir = Path(tempfile.mkdtemp(prefix="model-rollout-run-"))
    try:
        return _supervise(settings=settings, model=model, run_dir=run_dir, reference=reference)
    finally:
        reservation.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""), ignore_errors=True)


def _supervise(
    *,
    settings: config.ServeConfig,
    model: loading.LoadedModel,
    run_dir: Path,
    reference: inputs.Reference | None,
) -> int:
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            os.kill(pid, signal.SIGTERM)

    for sig in _STOP_SIGNALS:
        signal.signal(sig, stop)

    def spawn(index: int) -> None:
        pid = _fork(
            settings=settings, model=model, index=index, run_dir=run_dir, reference=reference
        )
        children[pid] = index

    for index in range(settings.workers):
        spawn(index)
    crashes: collections.deque[float] = collections.deque()
    exit_code = 0
    while children:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        index = children.pop(pid, -1)
        if index < 0:
            continue
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            # A worker killed by the signal before it set up its own handler had nothing in flight.
            exit_code = exit_code or (0 if code in (0, -signal.SIGTERM) else 1)
            continue
        now = time.monotonic()
        crashes.append(now)
        while crashes and now - crashes[0] > CRASH_WINDOW_SECONDS:
            crashes.popleft()
        if len(crashes) > CRASH_LIMIT:
            log.error("workers died %d times in %ds; stopping", len(crashes), CRASH_WINDOW_SECONDS)
            stop(signal.SIGTERM, None)
            exit_code = 1
            continue
        log.error("worker %d (pid %d) exited with %d; starting a new one", index, pid, code)
        spawn(index)
    log.info("model server stopped")
    return exit_code


def _fork(
    *,
    settings: config.ServeConfig,
    model: loading.LoadedModel,
    index: int,
    run_dir: Path,
    reference: inputs.Reference | None,
) -> int:
    # Signals stay blocked across fork so a child never runs the supervisor's handler.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    supervisor = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for sig in _STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            _stop_with_parent(supervisor)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            code = _worker(
                settings=settings, model=model, index=index, run_dir=run_dir, reference=reference
            )
        except BaseException:
            log.exception("worker %d failed", index)
        finally:
            os._exit(code)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    return pid


def _stop_with_parent(supervisor: int) -> None:
    """Ask Linux to SIGTERM this worker when the supervisor dies, even by SIGKILL: an orphaned
    worker would keep serving a model nobody manages, holding the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the supervisor's own shutdown still works
        return
    if os.getppid() != supervisor:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(
    *,
    settings: config.ServeConfig,
    model: loading.LoadedModel,
    index: int,
    run_dir: Path | None,
    reference: inputs.Reference | None,
) -> int:
    serving = _serve(
        settings=settings, model=model, index=index, run_dir=run_dir, reference=reference
    )
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, absent on some platforms
    except ImportError:
        asyncio.run(serving)
    else:
        uvloop.run(serving)
    return 0


async def _serve(
    *,
    settings: config.ServeConfig,
    model: loading.LoadedModel,
    index: int,
    run_dir: Path | None,
    reference: inputs.Reference | None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    listening = [sockets.listen_tcp(settings.host, settings.port)]
    siblings: list[Path] = []
    if run_dir is not None:
        listening.append(sockets.listen_unix(peers.socket_path(run_dir, index)))
        siblings = [peers.socket_path(run_dir, i) for i in range(settings.workers) if i != index]
    meters = metrics.Metrics(settings=settings, digest=model.digest)
    mirror = None
    if settings.shadow_url is not None:
        # One thread per worker, started after the fork: a forked thread would not run.
        mirror = shadow.Mirror(
            url=settings.shadow_url,
            model_name=settings.model_name,
            counters=meters,
            feedback_token=settings.feedback_token,
        )
        mirror.start()
    application = app.App(
        model=model,
        settings=settings,
        meters=meters,
        peer_sockets=siblings,
        mirror=mirror,
        input_bins=None if reference is None else inputs.InputBins(reference, meters=meters),
    )

    def draining() -> None:
        application.draining = True
        log.info("worker %d (pid %d): stopping; finishing requests in flight", index, os.getpid())

    serving = [http.serve(
        handler=application.handle,
        sockets=listening,
        limits=http.Limits(
            max_body=settings.max_body_bytes,
            head_timeout=settings.head_timeout_seconds,
            idle_timeout=settings.idle_timeout_seconds,
            max_connections=settings.max_connections,
        ),
        stop=stop,
        drain_seconds=DRAIN_SECONDS,
        on_draining=draining,
    )]  # fmt: skip
    if settings.grpc_port:
        # Imported here, after the fork: grpc's core must not start in the supervisor.
        from modelrollout.serving import grpcserver  # noqa: PLC0415

        serving.append(
            grpcserver.serve(
                application,
                host=settings.host,
                port=settings.grpc_port,
                max_message_bytes=settings.max_body_bytes,
                stop=stop,
                drain_seconds=DRAIN_SECONDS,
            )
        )
    await asyncio.gather(*serving)
    if mirror is not None:
        mirror.stop()
