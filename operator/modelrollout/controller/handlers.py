"""The kopf handlers: one daemon per ModelDeployment drives its turns; watch events wake it early.

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
    memo.http = await observability.serve(
        memo.metrics, host=memo.settings.metrics_host, port=memo.settings.metrics_port
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    with contextlib.suppress(Exception):
        await memo.http.cleanup()
    memo.providers.close()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def wake(*, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    """Any change to the object (spec, annotations, deletion) starts its next turn now."""
    waker = memo.wakers.get((namespace, name))
    if waker is not None:
        waker.set()


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def drive(
    *,
    namespace: str | None,
    name: str,
    memo: Any,
    stopped: kopf.DaemonStopped,
    logger: Any,
    **_: Any,
) -> None:
    assert namespace is not None, "ModelDeployment is a namespaced kind"
    waker = memo.wakers.setdefault((namespace, name), asyncio.Event())
    try:
        while not stopped:
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
            except Exception as e:  # a bug must not stop the daemon: the next turn may get past it
                memo.metrics.reconcile_errors.labels(type(e).__name__).inc()
                logger.exception("turn failed with an unexpected error")
                delay = ERROR_BACKOFF
            if delay is None:
                return
            if delay.total_seconds() > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waker.wait(), timeout=delay.total_seconds())
    finally:
        memo.wakers.pop((namespace, name), None)
