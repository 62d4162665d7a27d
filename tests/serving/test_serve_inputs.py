"""Per-feature bins of live inputs on a real server: fixed from the reference dataset, exported
beside the reference's own shares, and a bad reference stops the server before it is Ready."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from modelrollout.analysis import drift
from tests.serving import server as srv
from tests.serving.conftest import IRIS_ARGS

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> Path:
    x, y = load_iris(return_X_y=True)
    path = model_dir / "iris-reference.csv"
    lines = [",".join([*FEATURES, "species"])]
    lines += [",".join([*(f"{v:g}" for v in row), str(t)]) for row, t in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def bins_of(server: srv.Server, name: str, feature: str) -> list[float]:
    found = {
        key: value
        for key, value in server.metrics().items()
        if key.startswith(name + "{") and f'feature="{feature}"' in key
    }
    return [found[srv.series(name, feature=feature, bin=str(b))] for b in range(len(found))]


def test_live_inputs_are_counted_in_the_reference_bins(
    model_dir: Path, reference: Path, tmp_path: Path
) -> None:
    args = ["--model-uri", f"file://{model_dir}/iris.skops", *IRIS_ARGS,
            "--reference-uri", f"file://{reference}", "--reference-target", "species",
            "--drift-bins", "5"]  # fmt: skip
    x, _ = load_iris(return_X_y=True)
    with srv.running(tmp_path, args) as s:
        shares = bins_of(s, "model_input_reference_share", "petal_length")
        edges = drift.bin_edges(x[:, 2], bins=5)
        expected = np.bincount(drift.bin_index(x[:, 2], edges), minlength=len(edges) + 1)
        assert shares == pytest.approx(list(expected / expected.sum()))
        assert len(bins_of(s, "model_input_reference_share", "sepal_width")) >= 2
        # How many rows the shares come from: the operator's chance test weighs them by it.
        assert s.metrics()[srv.series("model_input_reference_rows")] == len(x)
        rows = x[:40].tolist()
        assert s.infer(rows).status_code == 200
        assert s.infer(rows[:1]).status_code == 200
        counted = bins_of(s, "model_input_bin_total", "petal_length")
        live = np.bincount(drift.bin_index(x[:41, 2], edges), minlength=len(edges) + 1)
        assert counted == list(live.astype(float))
        # Rows of another width are answered (or refused) by the model, never counted.
        s.infer([[1.0, 2.0]])
        assert sum(bins_of(s, "model_input_bin_total", "petal_length")) == 41


def test_a_reference_without_numeric_features_stops_the_server(
    model_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "words.csv"
    bad.write_text("colour,species\nred,0\nblue,1\n")
    proc = subprocess.run(
        srv.command(
            [
                "--model-uri",
                f"file://{model_dir}/iris.skops",
                "--reference-uri",
                f"file://{bad}",
                "--reference-target",
                "species",
                "--port",
                str(srv.free_port()),
                "--host",
                "127.0.0.1",
            ]
        ),
        env=srv.clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "column 'colour' is not numeric" in proc.stderr
