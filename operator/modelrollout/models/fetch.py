"""Fetch an artifact (model or dataset) named by a URI to a local file.

Schemes: `file://` (and bare paths), `http(s)://`, `s3://` (the `s3` extra) and `pvc://<claim>/<path>`,
which resolves under the directory where the operator mounts claims.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.parse
from pathlib import Path

import httpx

PVC_ROOT_ENV = "MODEL_ROLLOUT_PVC_ROOT"
DEFAULT_PVC_ROOT = "/mnt/pvc"
CACHE_DIR_ENV = "MODEL_ROLLOUT_CACHE_DIR"
# Generous: a model is fetched once at pod start and a slow store must not fail a rollout, while a
# dead one must still end in an error the pod's logs show rather than a hang.
HTTP_TIMEOUT = httpx.Timeout(30.0, read=120.0)
SCHEMES = ("file://", "http://", "https://", "s3://", "pvc://")


class FetchError(Exception):
    """An artifact could not be fetched; the message names the URI, the cause and what to do."""


def fetch_to_path(uri: str, *, cache_dir: Path | None = None) -> Path:
    """Return a local path holding the artifact at `uri`, downloading remote ones into `cache_dir`."""
    parsed = urllib.parse.urlsplit(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file"):
        return _existing(Path(urllib.parse.unquote(parsed.path if scheme else uri)), uri)
    if scheme == "pvc":
        return _existing(pvc_path(uri), uri)
    if scheme in ("http", "https", "s3"):
        dest = _cache_file(uri, parsed.path, cache_dir)
        if scheme == "s3":
            _download_s3(uri, bucket=parsed.netloc, key=parsed.path.lstrip("/"), dest=dest)
        else:
            _download_http(uri, dest)
        return dest
    raise FetchError(
        f"cannot fetch {uri!r}: unsupported scheme {scheme!r}; use one of {', '.join(SCHEMES)}"
    )


def pvc_path(uri: str) -> Path:
    """Map `pvc://<claim>/<path>` to the mounted file, refusing paths that escape the claim."""
    parsed = urllib.parse.urlsplit(uri)
    claim, rel = parsed.netloc, urllib.parse.unquote(parsed.path).lstrip("/")
    if not claim or not rel:
        raise FetchError(
            f"cannot fetch {uri!r}: a PVC URI is pvc://<claim>/<path inside the claim>"
        )
    root = Path(os.environ.get(PVC_ROOT_ENV, DEFAULT_PVC_ROOT)) / claim
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise FetchError(f"cannot fetch {uri!r}: the path leaves the claim {claim!r}; remove '..'")
    return path


def _existing(path: Path, uri: str) -> Path:
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise FetchError(
            f"cannot fetch {uri!r}: {path} {what}; check the URI"
            + (" and that the claim is mounted" if uri.startswith("pvc://") else "")
        )
    return path


def _cache_file(uri: str, remote_path: str, cache_dir: Path | None) -> Path:
    base = cache_dir or Path(
        os.environ.get(CACHE_DIR_ENV) or Path(tempfile.gettempdir()) / "model-rollout-cache"
    )
    base.mkdir(parents=True, exist_ok=True)
    # Keep the remote file name (its suffix tells the validator CSV from Parquet), prefixed by a
    # hash of the whole URI so two versions named model.skops never overwrite each other.
    name = Path(remote_path).name or "artifact"
    return base / f"{hashlib.sha256(uri.encode()).hexdigest()[:16]}-{name}"


def _download_http(uri: str, dest: Path) -> None:
    part = dest.with_name(dest.name + ".part")
    try:
        with (
            httpx.stream("GET", uri, timeout=HTTP_TIMEOUT, follow_redirects=True) as response,
            part.open("wb") as out,
        ):
            _check_status(uri, response)
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
    except httpx.HTTPError as e:
        part.unlink(missing_ok=True)
        raise FetchError(f"cannot fetch {uri!r}: {e}; check the address and the network") from e
    except FetchError:
        part.unlink(missing_ok=True)
        raise
    # Rename last so a half-written download is never mistaken for the artifact.
    part.replace(dest)


def _check_status(uri: str, response: httpx.Response) -> None:
    if response.status_code != httpx.codes.OK:
        raise FetchError(
            f"cannot fetch {uri!r}: the server answered HTTP {response.status_code}; "
            "check the URI and that the artifact is published"
        )


def _download_s3(uri: str, *, bucket: str, key: str, dest: Path) -> None:
    if not bucket or not key:
        raise FetchError(f"cannot fetch {uri!r}: an S3 URI is s3://<bucket>/<key>")
    try:
        import boto3  # noqa: PLC0415 - the optional s3 extra
    except ImportError as e:
        raise FetchError(
            f"cannot fetch {uri!r}: s3:// needs boto3; install model-rollout[s3]"
        ) from e
    part = dest.with_name(dest.name + ".part")
    try:
        # boto3 reads credentials and AWS_ENDPOINT_URL (MinIO and friends) from the environment.
        boto3.client("s3").download_file(bucket, key, str(part))
    except Exception as e:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"cannot fetch {uri!r}: {type(e).__name__}: {e}; check the bucket, key and credentials"
        ) from e
    part.replace(dest)
