"""The plugin's edge to the API server: load the kubeconfig, read and annotate ModelDeployments.

Every failure leaves here as a `PluginError` whose message is one line a person can act on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client import exceptions as k8s_exceptions
from urllib3 import exceptions as urllib3_exceptions

from modelrollout.api import GROUP, PLURAL, VERSION

RESOURCE = f"{PLURAL}.{GROUP}"
# A person is waiting at the terminal: fail in seconds, not after urllib3's default retries.
TIMEOUT = (5.0, 30.0)
RETRIES = 1


class PluginError(Exception):
    """What went wrong, where, and what to do; printed as one line on stderr."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        """The API server was unreachable or overloaded: asking again later may work."""


@dataclass(frozen=True)
class Where:
    kubeconfig: str
    context: str | None
    namespace: str
    server: str


def default_kubeconfig() -> str:
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def connect(
    *, kubeconfig: str | None, context: str | None, namespace: str | None
) -> tuple[client.ApiClient, Where]:
    """An API client for the chosen context, and the namespace to use (its default, else `default`)."""
    path = kubeconfig or default_kubeconfig()
    files = [p for p in path.split(os.pathsep) if p]
    if not any(os.path.exists(os.path.expanduser(p)) for p in files):
        raise PluginError(
            f"no kubeconfig at {path}; pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config"
        )
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
        chosen = next((c for c in contexts if c["name"] == context), None) if context else active
        if chosen is None:
            names = ", ".join(c["name"] for c in contexts) or "none"
            raise PluginError(f"context {context!r} is not in {path}; it has: {names}")
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, context=chosen["name"], client_configuration=configuration
        )
    except config.ConfigException as e:
        raise PluginError(f"cannot use kubeconfig {path}: {e}; fix it or pass --kubeconfig") from e
    configuration.retries = RETRIES
    ns = namespace or (chosen.get("context") or {}).get("namespace") or "default"
    where = Where(kubeconfig=path, context=chosen["name"], namespace=ns, server=configuration.host)
    return client.ApiClient(configuration), where


class ModelDeployments:
    """The three calls the plugin makes, with errors translated."""

    def __init__(self, api_client: client.ApiClient, where: Where) -> None:
        self._api = client.CustomObjectsApi(api_client)
        self._where = where

    def get(self, name: str, *, namespace: str) -> dict[str, Any]:
        with self._translated(verb="get", name=name, namespace=namespace):
            obj = self._api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=TIMEOUT
            )
        return _object(obj)

    def list(self, *, namespace: str | None) -> list[dict[str, Any]]:
        """In `namespace`, or in all namespaces when it is None; sorted by namespace and name."""
        with self._translated(verb="list", name=None, namespace=namespace):
            if namespace is None:
                out = self._api.list_cluster_custom_object(
                    GROUP, VERSION, PLURAL, _request_timeout=TIMEOUT
                )
            else:
                out = self._api.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, _request_timeout=TIMEOUT
                )
        items = [_object(i) for i in _object(out).get("items", [])]
        return sorted(
            items, key=lambda i: (i["metadata"].get("namespace", ""), i["metadata"]["name"])
        )

    def patch(self, name: str, *, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (the client's default content type for a dict body)."""
        with self._translated(verb="patch", name=name, namespace=namespace):
            obj = self._api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                body,
                _content_type="application/merge-patch+json",
                _request_timeout=TIMEOUT,
            )
        return _object(obj)

    @contextmanager
    def _translated(self, *, verb: str, name: str | None, namespace: str | None) -> Iterator[None]:
        try:
            yield
        except k8s_exceptions.ApiException as e:
            status = int(e.status or 0)
            raise PluginError(
                explain(
                    status=status,
                    body=e.body,
                    verb=verb,
                    name=name,
                    namespace=namespace,
                    server=self._where.server,
                ),
                transient=status in {0, 429} or status >= 500,
            ) from e
        except (urllib3_exceptions.HTTPError, OSError) as e:
            raise PluginError(
                f"cannot reach the API server at {self._where.server} ({_short(e)}); check that "
                f"the cluster is up and that context {self._where.context!r} of "
                f"{self._where.kubeconfig} points at it",
                transient=True,
            ) from e


def explain(
    *,
    status: int,
    body: str | bytes | None,
    verb: str,
    name: str | None,
    namespace: str | None,
    server: str,
) -> str:
    """One line for a failed API call: pure, so every case is tested without a server."""
    doc = _json(body)
    message = str(doc.get("message") or "").strip() or f"HTTP {status}"
    where = f"namespace {namespace!r}" if namespace else "all namespaces"
    what = f"modeldeployment {name!r} in {where}" if name else f"modeldeployments in {where}"
    if status == 404:
        details = doc.get("details") or {}
        if name and details.get("name") == name:
            return (
                f"{what} not found; list them with `kubectl model-rollout list -n {namespace}` "
                "or choose the namespace with -n"
            )
        return (
            f"the API server at {server} does not serve {RESOURCE}: the ModelDeployment CRD is not "
            "installed; install it with `model-rollout crd | kubectl apply -f -` or the Helm chart"
        )
    if status == 403:
        return (
            f"forbidden to {verb} {what}: {message}; ask a cluster admin for RBAC to {verb} "
            f"{RESOURCE}"
        )
    if status == 401:
        return f"the API server at {server} refused the credentials ({message}); log in again or fix the kubeconfig"
    if status == 0 or status >= 500:
        return f"the API server at {server} failed to {verb} {what} ({message}); try again shortly"
    return f"cannot {verb} {what}: {message}"


def _object(doc: object) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise PluginError(f"the API server answered with {type(doc).__name__}, not an object")
    return doc


def _json(body: str | bytes | None) -> dict[str, Any]:
    try:
        doc = json.loads(body or "{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _short(e: BaseException) -> str:
    # urllib3 nests the cause deep inside MaxRetryError; the innermost reason is what helps.
    reason = getattr(e, "reason", None)
    return _short(reason) if isinstance(reason, BaseException) else str(e) or type(e).__name__
