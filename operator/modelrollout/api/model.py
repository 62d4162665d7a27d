"""`spec.model`: which model version to serve and where its artifact lives."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from modelrollout.api.base import LabelValue, Rule, SpecModel, Uri

ModelFormat = Literal["skops", "joblib", "onnx"]


class ModelSpec(SpecModel):
    """The model artifact. Changing `version` starts a rollout."""

    name: LabelValue
    """Model name, used in pod labels and metrics."""
    version: LabelValue
    """Version label: the identity of a rollout. A new value starts one, the stable one's value
    aborts it; changing other fields under the same version does not start a rollout."""
    uri: Uri
    """Artifact location: file:///abs/path, http(s)://host/path, s3://bucket/key or pvc://claim/path."""
    format: ModelFormat = "skops"
    """skops (safe to load, default), joblib (pickle: needs allowUnsafePickle) or onnx."""
    sha256: Annotated[str, Field(pattern=r"^[a-f0-9]{64}$")] | None = None
    """Optional lowercase hex SHA-256 of the artifact; loading fails on a mismatch."""
    allow_unsafe_pickle: bool = False
    """Accept formats that can run arbitrary code when loaded (joblib)."""

    rules = (
        Rule(
            cel="self.format != 'joblib' || (has(self.allowUnsafePickle) && self.allowUnsafePickle)",
            message=(
                "format joblib runs arbitrary code when loaded: set allowUnsafePickle: true "
                "to accept that, or export the model as skops"
            ),
            check=lambda m: m.format != "joblib" or m.allow_unsafe_pickle,
            field_path=".allowUnsafePickle",
        ),
    )
