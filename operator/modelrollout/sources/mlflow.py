"""An MLflow Model Registry over its REST API (httpx): the version an alias or stage points at.

Called by `pick`. The artifact location MLflow gives is turned into one the model server fetches:
a proxied `mlflow-artifacts:/` path becomes the tracking server's artifact download URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from modelrollout import api
from modelrollout.sources.errors import Pick, SourceError

# The schemes the model server reads as they are (models/fetch.py).
_DIRECT = ("file:///", "http://", "https://", "s3://")
PROXIED = "mlflow-artifacts:"


def pick(spec: api.MlflowSource, *, http: httpx.Client) -> Pick:
    base = spec.tracking_uri.rstrip("/")
    if spec.alias is not None:
        found = _call(
            http,
            base,
            "GET",
            "registered-models/alias",
            params={"name": spec.model, "alias": spec.alias},
        )
        version = found.get("model_version") or {}
        why = f"MLflow model {spec.model!r} alias {spec.alias!r} at {base}"
    else:
        found = _call(
            http,
            base,
            "POST",
            "registered-models/get-latest-versions",
            json={"name": spec.model, "stages": [spec.stage]},
        )
        listed = found.get("model_versions") or []
        if not listed:
            raise SourceError(
                f"MLflow model {spec.model!r} at {base} has no version in stage {spec.stage!r}: "
                "transition one to that stage"
            )
        version = max(listed, key=lambda v: int(v.get("version") or 0))
        why = f"newest MLflow model {spec.model!r} version in stage {spec.stage!r} at {base}"
    number = str(version.get("version") or "")
    if not number:
        raise SourceError(f"{why} answered without a version: {str(found)[:200]}")
    if version.get("status", "READY") != "READY":
        raise SourceError(
            f"{why} is version {number}, still {version.get('status')}: waiting until it is READY"
        )
    location = _call(
        http,
        base,
        "GET",
        "model-versions/get-download-uri",
        params={"name": spec.model, "version": number},
    ).get("artifact_uri")
    return Pick(version=number, uri=artifact_url(base, str(location or ""), spec.file), reason=why)


def artifact_url(base: str, location: str, file: str) -> str:
    """Where the model server fetches `file` of a version whose artifacts MLflow keeps at `location`."""
    location = location.rstrip("/")
    if location.startswith(PROXIED):
        parts = urlsplit(location)
        # mlflow-artifacts://host:port/path names another tracking server, reached as this one is.
        server = f"{urlsplit(base).scheme}://{parts.netloc}" if parts.netloc else base
        path = parts.path.lstrip("/")
        return f"{server}/api/2.0/mlflow-artifacts/artifacts/{quote(path)}/{quote(file)}"
    if location.startswith(_DIRECT):
        return f"{location}/{file}"
    raise SourceError(
        f"MLflow keeps this version's artifacts at {location or 'no location'}, which the model "
        f"server cannot read (it reads {', '.join(_DIRECT)} and {PROXIED} through the tracking "
        "server): run mlflow server with --serve-artifacts, or an artifact root of one of those"
    )


def _call(
    http: httpx.Client,
    base: str,
    method: str,
    endpoint: str,
    *,
    params: dict[str, str] | None = None,
    json: dict[str, Any] | None = None,
) -> dict[str, Any]:
    url = f"{base}/api/2.0/mlflow/{endpoint}"
    try:
        response = http.request(method, url, params=params, json=json)
    except httpx.HTTPError as e:
        raise SourceError(f"MLflow at {base} did not answer ({type(e).__name__}: {e})") from e
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != httpx.codes.OK:
        detail = body.get("message") if isinstance(body, dict) else None
        raise SourceError(
            f"MLflow at {base} refused {endpoint} ({response.status_code}: "
            f"{detail or response.text[:200]}): check spec.model.source.mlflow"
        )
    if not isinstance(body, dict):
        raise SourceError(f"MLflow at {base} answered {endpoint} with {str(body)[:200]}")
    return body
