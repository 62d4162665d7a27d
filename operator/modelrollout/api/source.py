"""`spec.model.source`: a model registry or a folder of versioned artifacts that picks the version.

With a source, `version` and `uri` are left out of the manifest: the operator polls the source and
fills them in (controller/sourcing.py), so a new version there starts a rollout by itself.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from modelrollout.api.base import PositiveDuration, SpecModel, exactly_one

# A file inside a version's artifacts: a relative path without `..`, as MLflow and folders hold them.
ARTIFACT_FILE_PATTERN = r"^[A-Za-z0-9_][-A-Za-z0-9_.]*(/[A-Za-z0-9_][-A-Za-z0-9_.]*)*$"
ArtifactFile = Annotated[str, Field(pattern=ARTIFACT_FILE_PATTERN, max_length=512)]

MlflowStage = Literal["Staging", "Production", "Archived", "None"]


class MlflowSource(SpecModel):
    """An MLflow Model Registry: the version an alias (or, older style, a stage) points at."""

    tracking_uri: Annotated[str, Field(pattern=r"^https?://[^/\s]+(/\S*)?$", max_length=2048)]
    """The MLflow tracking server, e.g. http://mlflow.mlops:5000 (its REST API is polled)."""
    model: Annotated[str, Field(min_length=1, max_length=256)]
    """The registered model's name."""
    alias: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][-A-Za-z0-9_]*$", max_length=256)] | None = (
        None
    )
    """Follow this alias (e.g. champion): moving it starts a rollout."""
    stage: MlflowStage | None = None
    """Follow the newest version in this stage (MLflow's deprecated stages)."""
    file: ArtifactFile = "model.skops"
    """The model file inside the version's artifacts, in spec.model.format."""

    rules = (
        exactly_one(
            "alias",
            "stage",
            message="set exactly one of alias (e.g. champion) or stage (e.g. Production)",
        ),
    )


class DirectorySource(SpecModel):
    """A folder (file:// or pvc://, not an object store yet) holding one sub-folder per version: `<uri>/<version>/<file>`.

    The version is the highest sub-folder name made of dot-separated numbers (`3`, `1.10.2`),
    compared number by number (`1.10` is above `1.9`); other names, and versions whose file is not
    there yet, are passed over."""

    uri: Annotated[
        str,
        Field(
            pattern=r"^(file:///\S*/|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/(\S*/)?)$",
            max_length=2048,
        ),
    ]
    """The folder with a trailing slash: pvc://<claim>/<path>/, a PersistentVolumeClaim the serving
    pods mount for the version picked, and the operator's pod at $MODEL_ROLLOUT_PVC_ROOT/<claim>
    (default /mnt/pvc/<claim>); or file:///abs/path/, read by the operator and the model server
    alike at that path."""
    file: ArtifactFile = "model.skops"
    """The model file inside each version's folder, in spec.model.format."""


class ModelSource(SpecModel):
    """Where the version comes from: exactly one of mlflow or directory."""

    mlflow: MlflowSource | None = None
    directory: DirectorySource | None = None
    poll_interval: PositiveDuration = "30s"
    """How often the operator asks the source for its current version."""

    rules = (exactly_one("mlflow", "directory", message="set exactly one of mlflow or directory"),)

    @property
    def kind(self) -> Literal["mlflow", "directory"]:
        return "mlflow" if self.mlflow is not None else "directory"
