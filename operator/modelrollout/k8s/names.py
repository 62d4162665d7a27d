"""Names and labels of the objects a ModelDeployment owns (the design's naming contract)."""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from modelrollout import api

Track = Literal["stable", "canary"]

GROUP = api.GROUP
MANAGED_BY = "model-rollout"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TRACK = f"{GROUP}/track"
LABEL_VERSION = f"{GROUP}/version"
LABEL_ROLE = f"{GROUP}/role"


def deployment(md: str, track: Track) -> str:
    return f"{md}-{track}"


def service(md: str, track: Track | None = None) -> str:
    """The Service selecting every ready pod of both tracks, or one track's (for Gateway API)."""
    return md if track is None else f"{md}-{track}"


def shadow_service(md: str) -> str:
    """The Service a stable copies requests to during a shadow step (it selects the canary then)."""
    return f"{md}-shadow"


# A track value no pod has: the shadow Service selects nothing outside a shadow step.
NO_TRACK = "none"


def validation_job(md: str, version: str, generation: int) -> str:
    # One Job per (version, spec generation): a re-applied spec validates again, an unchanged one does not.
    # At most 61 characters: a Job's name is also a label value on its pods (63 at most).
    full = re.sub(r"[^a-z0-9-]", "-", f"{md}-validate-{version}".lower())
    stem = full[:52].strip("-")
    # A stem cut inside the ModelDeployment's name no longer tells two of them apart; the digest must
    # (names that were never cut keep the digest they always had, so upgrading starts no new Job).
    key = f"{version}/{generation}" if len(md) <= 52 else f"{md}/{version}/{generation}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"{stem}-{digest}"


def pod_labels(md: str, *, track: Track, version: str) -> dict[str, str]:
    return {
        LABEL_NAME: md,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_TRACK: track,
        LABEL_VERSION: version,
    }


def selector(md: str, track: Track | None = None) -> dict[str, str]:
    sel = {LABEL_NAME: md, LABEL_MANAGED_BY: MANAGED_BY}
    if track is not None:
        sel[LABEL_TRACK] = track
    return sel
