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
MAX_BYTES_ENV = "MODEL_ROLLOUT_MAX_DOWNLOAD_BYTES"
# Far above any model or dataset this operator serves (they are loaded whole into memory), yet a
# hostile or broken server can no longer fill the pod's disk and page cache.
DEFAULT_MAX_BYTES = 2 << 30
# Object stores and CDNs redirect once or twice (to a signed or regional address); more is a loop.
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchError(Exception):
    """An artifact could not be fetched; the message names the URI, the cause and what to do."""


def fetch_to_path(uri: str, *, cache_dir: Path | None = None, max_bytes: int | None = None) -> Path:
    """Return a local path holding the artifact at `uri`, downloading remote ones into `cache_dir`.

    An HTTP download larger than `max_bytes` (default: $MODEL_ROLLOUT_MAX_DOWNLOAD_BYTES, else
    2 GiB) is refused, and so is a redirect to another host or from https to plain http.
    """
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
            _download_http(uri, dest, max_bytes=max_bytes or max_download_bytes(uri))
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
    root = pvc_mount(claim)
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise FetchError(f"cannot fetch {uri!r}: the path leaves the claim {claim!r}; remove '..'")
    return path


def pvc_mount(claim: str) -> Path:
    """Where this process sees the claim: $MODEL_ROLLOUT_PVC_ROOT/<claim>, by default /mnt/pvc/<claim>."""
    return Path(os.environ.get(PVC_ROOT_ENV, DEFAULT_PVC_ROOT)) / claim


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


def max_download_bytes(uri: str) -> int:
    """The download cap: $MODEL_ROLLOUT_MAX_DOWNLOAD_BYTES if set, else `DEFAULT_MAX_BYTES`."""
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    if not raw.isdigit() or int(raw) <= 0:
        raise FetchError(
            f"cannot fetch {uri!r}: {MAX_BYTES_ENV}={raw!r} is not a positive whole number of "
            f"bytes; set it to one (e.g. {DEFAULT_MAX_BYTES} for 2 GiB) or unset it"
        )
    return int(raw)


def _download_http(uri: str, dest: Path, *, max_bytes: int) -> None:
    part = dest.with_name(dest.name + ".part")
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
            _get_following_redirects(uri, client=client, part=part, max_bytes=max_bytes)
    except httpx.HTTPError as e:
        part.unlink(missing_ok=True)
        raise FetchError(f"cannot fetch {uri!r}: {e}; check the address and the network") from e
    except FetchError:
        part.unlink(missing_ok=True)
        raise
    # Rename last so a half-written download is never mistaken for the artifact.
    part.replace(dest)


def _get_following_redirects(uri: str, *, client: httpx.Client, part: Path, max_bytes: int) -> None:
    # Redirects are followed by hand so that each hop is checked before it is requested.
    url = uri
    for _ in range(MAX_REDIRECTS + 1):
        with client.stream("GET", url) as response:
            if not response.is_redirect:
                _check_status(uri, response)
                _save_capped(uri, response, part, max_bytes=max_bytes)
                return
            url = _redirect_target(uri, current=url, response=response)
    raise FetchError(
        f"cannot fetch {uri!r}: more than {MAX_REDIRECTS} redirects; the server is redirecting "
        "in a loop: publish the artifact at a direct address"
    )


def _redirect_target(uri: str, *, current: str, response: httpx.Response) -> str:
    """Where a redirect points, if it stays on the same host and does not drop TLS."""
    location: str = response.headers.get("location", "")
    target = urllib.parse.urljoin(current, location)
    here, there = urllib.parse.urlsplit(current), urllib.parse.urlsplit(target)
    if not location or there.scheme not in _DEFAULT_PORTS:
        raise FetchError(
            f"cannot fetch {uri!r}: HTTP {response.status_code} redirects to {location!r}, which "
            "is not an http(s) address; fix the server or use the final URI"
        )
    if here.scheme == "https" and there.scheme == "http":
        raise FetchError(
            f"cannot fetch {uri!r}: {current} redirects to {target}, from https to plain http; "
            "refused, as the artifact could be altered on the way: publish it over https"
        )
    if _origin(here) != _origin(there) and not _is_upgrade(here, there):
        raise FetchError(
            f"cannot fetch {uri!r}: {current} redirects to another host ({target}); refused, as "
            "a model must come from the host the spec names: put the final URI in the spec"
        )
    return target


def _origin(url: urllib.parse.SplitResult) -> tuple[str, int | None]:
    return (url.hostname or "", url.port or _DEFAULT_PORTS.get(url.scheme))


def _is_upgrade(here: urllib.parse.SplitResult, there: urllib.parse.SplitResult) -> bool:
    # http://host/x -> https://host/x is the one cross-port redirect that only makes things safer.
    return (
        here.scheme == "http"
        and there.scheme == "https"
        and here.hostname == there.hostname
        and _origin(here)[1] == _DEFAULT_PORTS["http"]
        and _origin(there)[1] == _DEFAULT_PORTS["https"]
    )


def _save_capped(uri: str, response: httpx.Response, part: Path, *, max_bytes: int) -> None:
    def too_big(size: str) -> FetchError:
        return FetchError(
            f"cannot fetch {uri!r}: the artifact is {size}, over the download limit of "
            f"{_size(max_bytes)}; publish a smaller artifact, or raise {MAX_BYTES_ENV} "
            "if it really is that large"
        )

    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_big(_size(int(declared)))
    written = 0
    with part.open("wb") as out:
        # The declared length may be missing or a lie: count what actually arrives.
        for chunk in response.iter_bytes(1 << 20):
            written += len(chunk)
            if written > max_bytes:
                raise too_big(f"more than {_size(max_bytes)}")
            out.write(chunk)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n} bytes)"
    return f"{n} bytes"


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
