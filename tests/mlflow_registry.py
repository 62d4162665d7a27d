"""What a data scientist does in MLflow, over its REST API: log a model file, register a version,
move an alias or a stage. The same calls the mlflow client makes, without its package in our venv."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import httpx


class MlflowRegistry:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=30)
        self._experiment: str | None = None

    def __enter__(self) -> MlflowRegistry:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.close()

    def _call(self, method: str, endpoint: str, **kw: Any) -> dict[str, Any]:
        r = self._http.request(method, f"/api/2.0/mlflow/{endpoint}", **kw)
        r.raise_for_status()
        out: dict[str, Any] = r.json()
        return out

    def register(self, model: str, artifact: Path, *, file: str = "model.skops") -> str:
        """Logs `artifact` as `file` of a new run's model folder and registers it; the new version."""
        if self._experiment is None:
            found = self._http.get(
                "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "tests"}
            )
            self._experiment = (
                found.json()["experiment"]["experiment_id"]
                if found.status_code == 200
                else self._call("POST", "experiments/create", json={"name": "tests"})[
                    "experiment_id"
                ]
            )
        run = self._call("POST", "runs/create", json={"experiment_id": self._experiment})["run"]
        root = run["info"]["artifact_uri"]  # mlflow-artifacts:/<experiment>/<run>/artifacts
        path = root.removeprefix("mlflow-artifacts:").lstrip("/")
        put = self._http.put(
            f"/api/2.0/mlflow-artifacts/artifacts/{path}/model/{file}",
            content=artifact.read_bytes(),
        )
        put.raise_for_status()
        self._http.post(
            "/api/2.0/mlflow/registered-models/create", json={"name": model}
        )  # 400 when it exists already: fine
        version = self._call(
            "POST",
            "model-versions/create",
            json={"name": model, "source": f"{root}/model", "run_id": run["info"]["run_id"]},
        )["model_version"]
        return str(version["version"])

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self._call(
            "POST",
            "registered-models/alias",
            json={"name": model, "alias": alias, "version": version},
        )

    def set_stage(self, model: str, version: str, stage: str) -> None:
        self._call(
            "POST",
            "model-versions/transition-stage",
            json={
                "name": model,
                "version": version,
                "stage": stage,
                "archive_existing_versions": False,
            },
        )
