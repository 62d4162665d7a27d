"""`spec.model`: which model version to serve and where its artifact lives."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from modelrollout.api.base import LabelValue, Rule, SpecModel, Uri
from modelrollout.api.source import ModelSource

ModelFormat = Literal["skops", "joblib", "onnx"]


class ModelSpec(SpecModel):
    """The model artifact. Changing `version` starts a rollout.

    With `source`, the manifest leaves `version` and `uri` out and the operator fills them in from
    the source before anything else reads the spec; in Python a ModelSpec is always that resolved
    form, so `version` and `uri` are required here and only the CRD lets them be absent."""

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
    source: ModelSource | None = None
    """Take version and uri from a model registry or a folder of versions instead of the manifest:
    a new version there starts a rollout with no manifest edit (leave version and uri out)."""

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
        Rule(
            cel="has(self.source) ? !has(self.version) && !has(self.uri) "
            ": has(self.version) && has(self.uri)",
            message="set version and uri, or source (which picks them), not both",
            # Python parses the resolved form only (version and uri filled in, source taken off).
            check=lambda m: m.source is None,
        ),
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out: dict[str, Any] = handler.resolve_ref_schema(handler(schema))
        # The API server must accept a manifest with a source and neither field: the rule above
        # then requires both of them when there is no source.
        out["required"] = [k for k in out.get("required", []) if k not in {"version", "uri"}]
        return out
