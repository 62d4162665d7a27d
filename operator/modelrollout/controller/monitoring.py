"""The promoted stable's check at the edge: read its figures (metrics.monitoring), let the brain
judge them (rollout.monitoring), and turn each new alert into a Warning Event and a webhook POST.
Called by reconcile after the brain decided, when a check is due. Never touches the stable itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from modelrollout import api
from modelrollout.analysis import monitor
from modelrollout.controller import act
from modelrollout.metrics import monitoring as readings
from modelrollout.metrics import prometheus, provider
from modelrollout.rollout import monitoring as brain

log = logging.getLogger(__name__)
Post = Callable[[str, dict[str, Any], float], None]


def post_json(url: str, body: dict[str, Any], timeout: float) -> None:
    """One POST; raises httpx.HTTPError on no answer or an answer that is not 2xx."""
    httpx.post(url, json=body, timeout=timeout).raise_for_status()


def check(
    *,
    prov: prometheus.PrometheusProvider | None,
    spec: api.ModelDeploymentSpec,
    status: api.ModelDeploymentStatus,
    name: str,
    namespace: str,
    generation: int | None,
    now: datetime,
    post: Post = post_json,
) -> tuple[api.ModelDeploymentStatus, list[act.Event]]:
    """The status after the check, and the Events it emits (its alerts, failed webhooks)."""
    monitoring = spec.monitoring
    assert monitoring is not None  # brain.due said so
    version = status.stable_version or ""
    if prov is None:
        detail = "spec.analysis.prometheus names no Prometheus to read the stable's series from."
        return brain.failed(status=status, detail=detail, now=now), []
    try:
        figures = readings.read(
            prov,
            namespace=namespace,
            model=spec.model.name,
            version=version,
            window=api.parse_duration(monitoring.window),
        )
    except provider.ProviderError as e:
        return brain.failed(status=status, detail=str(e), now=now), []
    new, alerts = brain.record(
        status=status, monitoring=monitoring, figures=figures, now=now, generation=generation
    )
    events = [
        act.Event(reason=reason, message=text, type="Warning")
        for reason, text in brain.alert_events(alerts, version=version, window=monitoring.window)
    ]
    if monitoring.webhook is not None:
        for alert in alerts:
            failure = _call(monitoring, alert, post=post, name=name, namespace=namespace,
                            model=spec.model.name, version=version)  # fmt: skip
            if failure is not None:
                events.append(failure)
    return new, events


def _call(
    monitoring: api.MonitoringSpec,
    alert: monitor.Verdict,
    *,
    post: Post,
    name: str,
    namespace: str,
    model: str,
    version: str,
) -> act.Event | None:
    hook = monitoring.webhook
    assert hook is not None
    body = {
        "modelDeployment": name,
        "namespace": namespace,
        "model": model,
        "version": version,
        "condition": alert.condition.value,
        "metric": alert.metric,
        "feature": alert.feature,
        "value": alert.value,
        "threshold": alert.threshold,
        "window": monitoring.window,
    }
    try:
        post(hook.url, body, api.parse_duration(hook.timeout).total_seconds())
    except httpx.HTTPError as e:
        log.warning("webhook %s failed for %s/%s: %s", hook.url, namespace, name, e)
        detail = f"{type(e).__name__}: {e}"
        text = api.message(
            api.Reason.WEBHOOK_FAILED, url=hook.url, condition=alert.condition.value, detail=detail
        )
        return act.Event(reason=api.Reason.WEBHOOK_FAILED, message=text, type="Warning")
    return None
