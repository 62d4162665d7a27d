"""Ask the source a ModelDeployment names which version to serve: the one entry point.

An explicit table of source kinds (mlflow, directory), like the router registry: a kind without a
reader here is an error naming it.
"""

from __future__ import annotations

import httpx

from modelrollout import api
from modelrollout.sources import directory, mlflow
from modelrollout.sources.errors import Pick, SourceError

__all__ = ["Pick", "SourceError", "describe", "pick"]

# One look at a registry must not hold a reconcile turn for long: the picked version stays meanwhile.
HTTP_TIMEOUT = httpx.Timeout(10.0)


def pick(source: api.ModelSource, *, http: httpx.Client) -> Pick:
    if source.mlflow is not None:
        return mlflow.pick(source.mlflow, http=http)
    if source.directory is not None:
        return directory.pick(source.directory)
    raise SourceError("spec.model.source names no source: set mlflow or directory")


def describe(source: api.ModelSource) -> str:
    """The source in a few words, for status messages."""
    if source.mlflow is not None:
        how = (
            f"alias {source.mlflow.alias}"
            if source.mlflow.alias
            else f"stage {source.mlflow.stage}"
        )
        return f"MLflow model {source.mlflow.model} ({how})"
    if source.directory is not None:
        return f"folder {source.directory.uri}"
    return "no source"


def client() -> httpx.Client:
    return httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False)
