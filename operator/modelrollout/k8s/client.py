"""The thin client layer: applies, reads and deletes objects, and turns API errors into the project's own.

Everything is written by server-side apply under one field manager, so the operator owns exactly the fields
it sets and a person's `kubectl edit` of any other field survives. Called by the controller only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kubernetes import dynamic
from kubernetes.client import ApiClient
from kubernetes.client import exceptions as k8s_exceptions
from urllib3 import exceptions as urllib3_exceptions

from modelrollout.k8s import events, informer

FIELD_MANAGER = "model-rollout"
# client-go's defaults are 5/10; Argo Rollouts' controller uses 40/80. A rollout costs ~25 requests
# (bench/scale.py), so 1,000 at once need well over 50/s to end in minutes. The chart sets these.
DEFAULT_QPS = 100.0
DEFAULT_BURST = 200


class KubeError(Exception):
    """An API call failed; `status` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotFoundError(KubeError):
    pass


class ConflictError(KubeError):
    pass


class ForbiddenError(KubeError):
    pass


class InvalidError(KubeError):
    pass


class UnavailableError(KubeError):
    """The API server could not be reached or answered 5xx/429: worth retrying later."""


_BY_STATUS: dict[int, type[KubeError]] = {
    404: NotFoundError,
    409: ConflictError,
    403: ForbiddenError,
    422: InvalidError,
}


def _describe(manifest_or_ref: Mapping[str, Any]) -> str:
    meta = manifest_or_ref.get("metadata", {})
    ns = meta.get("namespace")
    where = f"{ns}/" if ns else ""
    return f"{manifest_or_ref.get('kind', '?')} {where}{meta.get('name', '?')}"


@contextmanager
def _translated(action: str, what: str) -> Iterator[None]:
    try:
        yield
    except k8s_exceptions.ApiException as e:
        status = int(e.status or 0)
        kind = _BY_STATUS.get(
            status, UnavailableError if status in {0, 429} or status >= 500 else KubeError
        )
        reason = _reason(e)
        raise kind(f"{action} {what}: {status} {reason}", status=status) from e
    except (urllib3_exceptions.HTTPError, OSError) as e:
        raise UnavailableError(f"{action} {what}: API server unreachable ({e})") from e


def _reason(e: k8s_exceptions.ApiException) -> str:
    try:
        body = json.loads(e.body or "{}")
    except ValueError:
        return str(e.reason)
    return str(body.get("message") or e.reason)


class TokenBucket:
    """Client-side rate limit of API requests: `qps` on average, `burst` at once; thread-safe."""

    def __init__(self, *, qps: float, burst: int) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"API client qps must be > 0 and burst >= 1, got {qps} and {burst}")
        self._qps, self._burst = qps, float(burst)
        self._tokens, self._at = float(burst), time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._qps)
            self._at = now
            self._tokens -= 1
            wait = -self._tokens / self._qps if self._tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


class Kube:
    """A small facade over the dynamic client; one instance per operator, built at start-up.

    With a `store` (fed by k8s.informer), reads of the kinds it holds come from memory once their
    first list is in, and this client's own writes go into it at once. With `background_events`,
    Events are posted by a k8s.events.EventSink thread rather than by the caller."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        field_manager: str = FIELD_MANAGER,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        store: informer.Store | None = None,
        background_events: bool = False,
    ) -> None:
        self._dyn = dynamic.DynamicClient(api_client)  # type: ignore[no-untyped-call]
        self._field_manager = field_manager
        self._bucket = TokenBucket(qps=qps, burst=burst)
        self.store = store
        self.events = events.EventSink(self._post_event) if background_events else None

    def close(self) -> None:
        if self.events is not None:
            self.events.close()

    @property
    def dynamic(self) -> dynamic.DynamicClient:
        return self._dyn

    def _resource(self, api_version: str, kind: str) -> Any:
        self._bucket.take()  # every request goes through here
        with _translated("discover", f"{kind} ({api_version})"):
            return self._dyn.resources.get(api_version=api_version, kind=kind)

    def _cached(self, kind: str, namespace: str | None) -> informer.Store | None:
        return self.store if self.store is not None and self.store.covers(kind, namespace) else None

    def apply(
        self, manifest: Mapping[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]:
        """Server-side apply of one object; returns the object as the server has it now.

        field_manager other than the operator's own serves to hand a field over (see autoscale)."""
        res = self._resource(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        with _translated("apply", _describe(manifest)):
            out = res.server_side_apply(
                body=dict(manifest),
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=field_manager or self._field_manager,
                force_conflicts=True,
            )
        applied = dict(out.to_dict())
        if (store := self._cached(manifest["kind"], meta.get("namespace"))) is not None:
            store.put(manifest["kind"], applied)
        return applied

    def get(
        self, *, api_version: str, kind: str, name: str, namespace: str | None
    ) -> dict[str, Any] | None:
        if namespace is not None and (store := self._cached(kind, namespace)) is not None:
            return store.get(kind, namespace, name)
        if namespace is not None and self.store is not None and self.store.fed(kind):
            # Fed by someone else's watch (kopf's, for ModelDeployments): a copy held is current, a
            # miss may only mean its first event has not arrived, so it is asked for.
            held = self.store.get(kind, namespace, name)
            if held is not None:
                return held
        res = self._resource(api_version, kind)
        try:
            with _translated("read", f"{kind} {namespace}/{name}"):
                return dict(res.get(name=name, namespace=namespace).to_dict())
        except NotFoundError:
            return None

    def list(
        self, *, api_version: str, kind: str, namespace: str | None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        wanted = informer.parse_selector(label_selector)
        store = self._cached(kind, namespace)
        if namespace is not None and store is not None and wanted is not None:
            return store.select(kind, namespace, wanted)
        res = self._resource(api_version, kind)
        with _translated("list", f"{kind} in {namespace or 'all namespaces'}"):
            out = res.get(namespace=namespace, label_selector=label_selector or None)
        return [dict(item) for item in out.to_dict().get("items", [])]

    def delete(self, *, api_version: str, kind: str, name: str, namespace: str | None) -> bool:
        """Deletes one object (children go in the background); False when it was already gone."""
        res = self._resource(api_version, kind)
        try:
            with _translated("delete", f"{kind} {namespace}/{name}"):
                res.delete(name=name, namespace=namespace, body={"propagationPolicy": "Background"})
        except NotFoundError:
            return False
        finally:
            if namespace is not None and (store := self._cached(kind, namespace)) is not None:
                store.remove(kind, namespace, name)
        return True

    def scale(
        self, *, api_version: str, kind: str, name: str, namespace: str, replicas: int
    ) -> None:
        """Sets replicas alone (a merge patch), leaving every applied field as it is."""
        res = self._resource(api_version, kind)
        with _translated("scale", f"{kind} {namespace}/{name}"):
            out = res.patch(
                name=name,
                namespace=namespace,
                body={"spec": {"replicas": replicas}},
                content_type="application/merge-patch+json",
            )
        if (store := self._cached(kind, namespace)) is not None:
            store.put(kind, dict(out.to_dict()))

    def patch_status(
        self, *, api_version: str, kind: str, name: str, namespace: str, status: Mapping[str, Any]
    ) -> None:
        """A merge patch of the status subresource; a None value removes that field."""
        res = self._resource(api_version, kind)
        with _translated("write status of", f"{kind} {namespace}/{name}"):
            out = res.status.patch(
                name=name,
                namespace=namespace,
                body={"status": dict(status)},
                content_type="application/merge-patch+json",
            )
        if self.store is not None and self.store.fed(kind):
            # The next turn must read this status, not the one before it that a watch still carries.
            self.store.put(kind, dict(out.to_dict()))

    def event(
        self,
        *,
        involved: Mapping[str, Any],
        reason: str,
        message: str,
        type: str = "Normal",
        now: str,
    ) -> None:
        """Records a core/v1 Event about `involved` (shown by `kubectl describe`)."""
        meta = involved["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type,
            "source": {"component": FIELD_MANAGER},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": FIELD_MANAGER,
        }
        if self.events is not None:
            self.events.put(body)
        else:
            self._post_event(body)

    def _post_event(self, body: dict[str, Any]) -> None:
        res = self._resource("v1", "Event")
        about = body["involvedObject"]
        with _translated(
            "record event on", f"{about['kind']} {about['namespace']}/{about['name']}"
        ):
            res.create(body=body, namespace=body["metadata"]["namespace"])

    def replace(self, manifest: Mapping[str, Any]) -> None:
        """A full update (PUT) of an object read this turn; its resourceVersion guards a concurrent change.

        For objects with atomic lists we share with their owner (an HTTPRoute's rules), where apply
        would fight over the list."""
        res = self._resource(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        with _translated("update", _describe(manifest)):
            res.replace(body=dict(manifest), name=meta["name"], namespace=meta.get("namespace"))
