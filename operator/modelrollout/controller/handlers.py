"""The kopf handlers: a work queue of ModelDeployments drained by a fixed pool of workers.

Events of a ModelDeployment and of the objects it owns (watched by k8s.informer) queue it; each turn
says when the next one is due. Start-up builds the shared clients into kopf's memo; nothing lives
in module globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import kopf
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from modelrollout import api
from modelrollout.controller import observability, reconcile, workqueue
from modelrollout.k8s import client, informer

# After an error, wait before the next turn (a transient API or network failure heals by itself).
ERROR_BACKOFF = timedelta(seconds=5)
# Transitions of one object made in one go. Each step of a rollout going to the back of the queue made
# it wait for every other object's turn (seconds, with hundreds rolling out); bounded, so an object
# that keeps moving still lets the others have a worker.
CHAIN = 6


def api_client(*, pool: int) -> k8s_client.ApiClient:
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]
    api = k8s_client.ApiClient()
    # One connection per worker and per watch; urllib3's default of 4 makes the others wait.
    api.rest_client.pool_manager.connection_pool_kw["maxsize"] = pool
    return api


Key = tuple[str, str]


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # kopf keeps what it needs in annotations of our group; status belongs to the rollout alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix="kopf.modelrollout.io"
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kopf.modelrollout.io", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 120
    opts = memo.settings
    loop = asyncio.get_running_loop()
    queue: workqueue.WorkQueue[Key] = workqueue.WorkQueue()
    memo.queue = queue
    memo.seen = {}
    memo.metrics = observability.OperatorMetrics()
    memo.providers = reconcile.Providers()
    store = informer.Store()
    store.feed(api.KIND)  # by the `watch` handler below, from kopf's own watch
    watches = len(informer.WATCHED) * max(1, len(opts.namespaces))
    memo.kube = client.Kube(
        api_client(pool=opts.workers + watches + 3),
        qps=opts.kube_qps,
        burst=opts.kube_burst,
        store=store,
        background_events=True,
    )

    def changed(namespace: str, name: str) -> None:  # called from the watch threads
        loop.call_soon_threadsafe(queue.add, (namespace, name))

    memo.informers = informer.Informers(
        memo.kube.dynamic, store=store, namespaces=opts.namespaces, on_change=changed
    )
    memo.informers.start()
    memo.executor = ThreadPoolExecutor(max_workers=opts.workers, thread_name_prefix="turn")
    memo.workers = [
        asyncio.create_task(work(memo=memo, logger=logging.getLogger("modelrollout.worker")))
        for _ in range(opts.workers)
    ]
    # Namespaces and CRDs are known from the settings; scanning them needs cluster-wide list rights a
    # namespaced install does not have (kopf would retry for a minute before watching anything).
    settings.scanning.disabled = True
    memo.http = await observability.serve(
        memo.metrics, host=memo.settings.metrics_host, port=memo.settings.metrics_port
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.workers:
        task.cancel()
    await asyncio.gather(*memo.workers, return_exceptions=True)
    memo.informers.stop()
    memo.executor.shutdown(wait=False, cancel_futures=True)
    memo.kube.close()
    with contextlib.suppress(Exception):
        await memo.http.cleanup()
    memo.providers.close()


@kopf.on.event(api.GROUP, api.VERSION, api.PLURAL)
async def watch(
    *, type: str | None, body: Any, namespace: str | None, name: str, memo: Any, **_: Any
) -> None:
    """Queues the ModelDeployment when its spec or annotations change (or it appears).

    A work queue of our own rather than kopf daemons: daemons put a finalizer on every object, and a
    finalizer left behind by a stopped or uninstalled operator blocks deleting the object and its
    namespace. Children go with the object through owner references, so nothing needs one. A change
    of status alone (our own write, most often) queues nothing: the turn that wrote it already said
    when the next is due.

    Every event's body goes into the store first: a turn reads the ModelDeployment from there rather
    than asking the API server each time."""
    assert namespace is not None, "ModelDeployment is a namespaced kind"
    key = (namespace, name)
    if type == "DELETED":
        memo.kube.store.remove(api.KIND, namespace, name)
        memo.queue.forget(key)
        memo.seen.pop(key, None)
        memo.metrics.forget(namespace, name)
        return
    memo.kube.store.put(
        api.KIND, {"apiVersion": api.API_VERSION, "kind": api.KIND, **copy.deepcopy(dict(body))}
    )
    meta = body.get("metadata") or {}
    mark = (meta.get("generation"), repr(sorted((meta.get("annotations") or {}).items())))
    if memo.seen.get(key) == mark and type == "MODIFIED":
        return
    memo.seen[key] = mark
    memo.queue.add(key)


async def work(*, memo: Any, logger: Any) -> None:
    """One worker: takes a key, runs its turn in the thread pool, schedules the next one."""
    loop = asyncio.get_running_loop()
    queue: workqueue.WorkQueue[Key] = memo.queue
    while True:
        key, waited = await queue.get()
        memo.metrics.queue_wait_seconds.observe(waited)
        memo.metrics.queue_depth.set(len(queue))
        namespace, name = key
        try:
            turn = functools.partial(_turn, memo, namespace, name)
            delay = await loop.run_in_executor(memo.executor, turn)
        except client.KubeError as e:
            memo.metrics.reconcile_errors.labels(type(e).__name__).inc()
            logger.warning(
                f"turn of {namespace}/{name} failed, retrying in "
                f"{ERROR_BACKOFF.total_seconds():.0f}s: {e}"
            )
            delay = ERROR_BACKOFF
        except Exception:  # a bug must not stop the rollout for good: the next turn may get past it
            memo.metrics.reconcile_errors.labels("unexpected").inc()
            logger.exception(f"turn of {namespace}/{name} failed with an unexpected error")
            delay = ERROR_BACKOFF
        finally:
            queue.done(key)
        memo.metrics.cached_objects.set(memo.kube.store.size())
        if delay is None:
            queue.forget(key)
            memo.seen.pop(key, None)
        else:
            queue.add_after(key, delay.total_seconds())


def _turn(memo: Any, namespace: str, name: str) -> timedelta | None:
    """Reconciles until the rollout stops moving (at most CHAIN times): a turn that made a transition
    is followed at once by the same worker, not by a trip to the back of the queue."""
    wait: timedelta | None = timedelta(0)
    for _ in range(CHAIN):
        wait = reconcile.reconcile(
            kube=memo.kube,
            settings=memo.settings,
            providers=memo.providers,
            metrics=memo.metrics,
            namespace=namespace,
            name=name,
        )
        if wait != timedelta(0):
            break
    return wait
