"""The demo models (examples/make_models.py's output) load under the vetted skops allow-list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io

from modelrollout.models import loading

DEMO_MODELS = [
    "iris-v1", "iris-v2", "iris-inaccurate", "iris-slow", "iris-online-flip",
    "cancer-v1", "cancer-unfair", "diabetes-v1", "diabetes-v2",
]  # fmt: skip


def test_the_script_writes_exactly_the_models_listed_here(examples_root: Path) -> None:
    made = sorted(path.stem for path in (examples_root / "models").glob("*.skops"))
    assert made == sorted(DEMO_MODELS)


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_each_demo_model_loads_and_predicts_as_skops_itself_would(
    examples_root: Path, name: str
) -> None:
    path = examples_root / "models" / f"{name}.skops"
    model = loading.load_model(uri=f"file://{path}", name=name)
    # The reference: skops trusting exactly what the file asks for, which is safe here because
    # the script that made the file is ours.
    reference = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    rows = np.full((3, reference.n_features_in_), 1.5)
    np.testing.assert_array_equal(model.predict(rows), reference.predict(rows))
