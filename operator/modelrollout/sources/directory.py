"""A folder of versions, `<uri>/<version>/<file>`: the highest version whose file is present.

Called by `pick`; reads the local file system: a claim mounted in the operator's pod (pvc://, the
servers mount it too), or a path the operator and the servers both see (file://).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from modelrollout import api
from modelrollout.models import fetch
from modelrollout.sources import versions
from modelrollout.sources.errors import Pick, SourceError


def _folder(uri: str) -> tuple[Path, str]:
    """The folder as this process sees it, and where to mount it if it cannot be listed."""
    parts = urlsplit(uri)
    if parts.scheme != "pvc":
        path = Path(unquote(parts.path))
        return path, f"mount it in the operator's pod at {path}"
    mount = fetch.pvc_mount(parts.netloc)
    path = (mount / unquote(parts.path).lstrip("/")).resolve()
    if not path.is_relative_to(mount.resolve()):
        raise SourceError(f"folder {uri} leaves the claim {parts.netloc!r}: remove '..'")
    return path, f"mount the claim {parts.netloc} in the operator's pod at {mount}"


def pick(spec: api.DirectorySource) -> Pick:
    root, mount = _folder(spec.uri)
    try:
        entries = [e.name for e in root.iterdir() if e.is_dir()]
    except OSError as e:
        raise SourceError(
            f"folder {spec.uri} cannot be listed ({e.strerror or e}): {mount}, "
            "or fix spec.model.source.directory.uri"
        ) from e
    # A version folder still being written has no model file yet: it is not a version until then.
    complete = [name for name in entries if (root / name / spec.file).is_file()]
    version = versions.highest(complete)
    if version is None:
        raise SourceError(
            f"folder {spec.uri} holds no version folder with {spec.file} in it "
            f"(found {len(entries)} entries; versions are named like 3 or 1.2.0): "
            "add <version>/" + spec.file
        )
    # The servers find the file where the source names it: under the claim they mount, or the path.
    uri = (
        f"{spec.uri}{version}/{spec.file}"
        if spec.uri.startswith("pvc://")
        else (root / version / spec.file).as_uri()
    )
    return Pick(version=version, uri=uri, reason=f"{versions.RULE} in {spec.uri}")
