"""A folder of versions, `<uri>/<version>/<file>`: the highest version whose file is present.

Called by `pick`; reads the local file system (a volume the operator and the servers both mount).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from modelrollout import api
from modelrollout.sources import versions
from modelrollout.sources.errors import Pick, SourceError


def pick(spec: api.DirectorySource) -> Pick:
    root = Path(unquote(urlsplit(spec.uri).path))
    try:
        entries = [e.name for e in root.iterdir() if e.is_dir()]
    except OSError as e:
        raise SourceError(
            f"folder {spec.uri} cannot be listed ({e.strerror or e}): mount it in the operator's "
            "pod at that path, or fix spec.model.source.directory.uri"
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
    uri = (root / version / spec.file).as_uri()
    return Pick(version=version, uri=uri, reason=f"{versions.RULE} in {spec.uri}")
