"""The kopf handlers: one task per ModelDeployment drives its turns; watch events wake it early.

Start-up builds the shared clients into kopf's memo; nothing lives in module globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

import kopf
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from modelrollout.controller import observability, reconcile
from modelrollout.k8s import client

GROUP, VERSION, PLURAL = "modelrollout.io", "v1alpha1", "modeldeployments"
# After an error, wait before the next turn (a transient API or network failure heals by itself).
ERROR_BACKOFF = timedelta(seconds=5)


def api_client() -> k8s_client.ApiClient:
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]
    return k8s_client.ApiClient()


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
    memo.kube = client.Kube(api_client())
    memo.providers = reconcile.Providers()
    memo.metrics = observability.OperatorMetrics()
    memo.wakers = {}
    memo.tasks = {}
    # Namespaces and CRDs are known from the settings; scanning them needs cluster-wide list rights a
    # namespaced install does not have (kopf would retry for a minute before watching anything).
    settings.scanning.disabled = True
    memo.http = await observability.serve(
        memo.metrics, host=memo.settings.metrics_host, port=memo.settings.metrics_port
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    for task in list(memo.tasks.values()):
        task.cancel()
    await asyncio.gather(*memo.tasks.values(), return_exceptions=True)
    with contextlib.suppress(Exception):
        await memo.http.cleanup()
    memo.providers.close()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def watch(
    *, type: str | None, namespace: str | None, name: str, memo: Any, logger: Any, **_: Any
) -> None:
    """Each ModelDeployment gets one task that drives its turns; any change to it wakes that task.

    A task of our own rather than a kopf daemon: daemons put a finalizer on every object, and a
    finalizer left behind by a stopped or uninstalled operator blocks deleting the object and its
    namespace. Children go with the object through owner references, so nothing needs one."""
    assert namespace is not None, "ModelDeployment is a namespaced kind"
    key = (namespace, name)
    if type == "DELETED":
        task = memo.tasks.pop(key, None)
        if task is not None:
            task.cancel()
        return
    task = memo.tasks.get(key)
    if task is None or task.done():
        memo.wakers[key] = asyncio.Event()
        memo.tasks[key] = asyncio.create_task(
            drive(namespace=namespace, name=name, memo=memo, logger=logger)
        )
    else:
        memo.wakers[key].set()


async def drive(*, namespace: str, name: str, memo: Any, logger: Any) -> None:
    key = (namespace, name)
    waker = memo.wakers[key]
    try:
        while True:
            waker.clear()
            try:
                delay = await asyncio.to_thread(
                    reconcile.reconcile,
                    kube=memo.kube,
                    settings=memo.settings,
                    providers=memo.providers,
                    metrics=memo.metrics,
                    namespace=namespace,
                    name=name,
                )
            except client.KubeError as e:
                memo.metrics.reconcile_errors.labels(type(e).__name__).inc()
                logger.warning(
                    f"turn failed, retrying in {ERROR_BACKOFF.total_seconds():.0f}s: {e}"
                )
                delay = ERROR_BACKOFF
            except (
                Exception
            ):  # a bug must not stop the rollout for good: the next turn may get past it
                memo.metrics.reconcile_errors.labels("unexpected").inc()
                logger.exception("turn failed with an unexpected error")
                delay = ERROR_BACKOFF
            if delay is None:
                return
            if delay.total_seconds() > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waker.wait(), timeout=delay.total_seconds())
    finally:
        if memo.tasks.get(key) is asyncio.current_task():
            memo.tasks.pop(key, None)
            memo.wakers.pop(key, None)
