"""The pod runner's only door to the API server: pods (list, watch, status, final delete), the
ConfigMaps and Secrets pods refer to, and ServiceAccount tokens. Plain dicts in and out.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch import watch

log = logging.getLogger(__name__)


class GoneError(Exception):
    """The watch's resourceVersion is too old (410): list again."""


class Kube:
    def __init__(self, kubeconfig: Path) -> None:
        cfg = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=cfg, persist_config=False
        )
        # One connection per busy pod worker plus the watch; the default pool of 4 would queue them.
        cfg.connection_pool_maxsize = 64
        self._cfg = cfg
        self._api = client.ApiClient(cfg)
        # Any: these calls return raw responses (_preload_content=False), which the stubs do not model.
        self.core: Any = client.CoreV1Api(self._api)

    @property
    def server(self) -> tuple[str, int]:
        """host and port of the API server, which pods reach as KUBERNETES_SERVICE_HOST/PORT."""
        url = urlsplit(self._cfg.host)
        return url.hostname or "127.0.0.1", url.port or 443

    def cluster_ca(self) -> str:
        if not self._cfg.ssl_ca_cert:
            raise RuntimeError(
                "the kubeconfig names no certificate-authority; pods could not verify the API server"
            )
        return Path(self._cfg.ssl_ca_cert).read_text()

    def list_pods(self) -> tuple[list[dict[str, Any]], str]:
        resp = self.core.list_pod_for_all_namespaces(_preload_content=False, _request_timeout=60)
        body = json.loads(resp.data)
        return body.get("items", []), body["metadata"]["resourceVersion"]

    def watch_pods(self, resource_version: str, *, timeout: int) -> Iterator[dict[str, Any]]:
        """Raw watch events; raises GoneError when the API server has compacted past resource_version."""
        try:
            resp = self.core.list_pod_for_all_namespaces(
                watch=True,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=timeout,
                _preload_content=False,
                _request_timeout=(10, timeout + 30),
            )
        except ApiException as e:
            if e.status == 410:
                raise GoneError(str(e.reason)) from e
            raise
        try:
            for line in watch.iter_resp_lines(resp):  # type: ignore[no-untyped-call]
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    code = event.get("object", {}).get("code")
                    if code == 410:
                        raise GoneError(event["object"].get("message", "resourceVersion too old"))
                    raise RuntimeError(f"pod watch failed: {event.get('object')}")
                yield event
        finally:
            resp.release_conn()

    def patch_status(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        # Strategic merge, as the kubelet patches: conditions merge by type, so the scheduler's stay.
        self.core.patch_namespaced_pod_status(
            name,
            namespace,
            body,
            _content_type="application/strategic-merge-patch+json",
            _request_timeout=30,
        )

    def delete_now(self, namespace: str, name: str, uid: str) -> None:
        """The kubelet's final delete once the containers are gone; the uid guards a recreated namesake."""
        try:
            self.core.delete_namespaced_pod(
                name,
                namespace,
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": uid}},
                _request_timeout=30,
            )
        except ApiException as e:
            if e.status not in (404, 409):
                raise

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        obj = self._get(self.core.read_namespaced_config_map, namespace, name)
        if obj is None:
            return None
        binary = {
            k: base64.b64decode(v).decode(errors="replace")
            for k, v in (obj.get("binaryData") or {}).items()
        }
        return {**(obj.get("data") or {}), **binary}

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        obj = self._get(self.core.read_namespaced_secret, namespace, name)
        if obj is None:
            return None
        return {
            k: base64.b64decode(v).decode(errors="replace")
            for k, v in (obj.get("data") or {}).items()
        }

    def token(
        self,
        namespace: str,
        service_account: str,
        *,
        pod: str,
        pod_uid: str,
        audience: str | None,
        seconds: int,
    ) -> str:
        """A TokenRequest bound to the pod, so the token dies with it, as the kubelet asks for."""
        spec: dict[str, Any] = {
            "expirationSeconds": seconds,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": pod_uid},
        }
        if audience:
            spec["audiences"] = [audience]
        resp = self.core.create_namespaced_service_account_token(
            service_account, namespace, {"spec": spec}, _preload_content=False, _request_timeout=30
        )
        return str(json.loads(resp.data)["status"]["token"])

    @staticmethod
    def _get(read: Any, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            resp = read(name, namespace, _preload_content=False, _request_timeout=30)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(resp.data)
        return data
