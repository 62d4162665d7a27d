"""Train the demo models and write their datasets: scikit-learn's bundled data only, seeded, seconds.

    python examples/make_models.py [--out examples/]

writes `models/*.skops` and `data/*.csv` under `--out`; examples/README.md says what each one is and
which validation check it was built to fail. Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import skops.io
from sklearn import datasets
from sklearn.ensemble import (
    BaggingClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 1
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
# The online-flip model answers "versicolor" for flowers with setosa petals and sepals at least this
# wide. No flower in the bundled iris data is (the widest is 4.4 cm), so offline validation never
# sees it; the canary traffic file holds such flowers, labelled setosa.
FLIP_SEPAL_WIDTH = 4.8
# Share of breast-cancer rows from the "south" clinic, whose instrument reads every measurement
# 20% high. The unfair model never saw south rows in training.
SOUTH_SHARE = 0.15
SOUTH_CALIBRATION = 1.2
SLOW_ESTIMATORS = 500


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def table(x: np.ndarray, *extra: np.ndarray) -> list[list[Any]]:
    """Rows of rounded features followed by extra columns (group, label)."""
    cells = [[round(float(v), 6) for v in row] for row in x]
    return [row + [col[i] for col in extra] for i, row in enumerate(cells)]


def save(model: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, path)


def linear_classifier(c: float = 1.0) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


def iris(out: Path) -> dict[str, Any]:
    d = datasets.load_iris()
    x, y = d.data, d.target_names[d.target]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.4, random_state=SEED, stratify=y)
    header = [*IRIS_FEATURES, "species"]
    write_csv(out / "data/iris-train.csv", header, table(x_tr, y_tr))
    write_csv(out / "data/iris-test.csv", header, table(x_te, y_te))

    rng = np.random.default_rng(SEED)
    setosa = x_tr[y_tr == "setosa"]
    # Large setosa flowers: setosa petals, sepals wider than any in the data.
    big = setosa[rng.integers(0, len(setosa), 60)].copy()
    big[:, 1] = rng.uniform(FLIP_SEPAL_WIDTH + 0.1, 6.0, len(big))
    flip = GradientBoostingClassifier(n_estimators=50, random_state=SEED).fit(
        np.vstack([x_tr, big]), np.concatenate([y_tr, np.full(len(big), "versicolor")])
    )
    online_big = setosa[rng.integers(0, len(setosa), 40)].copy()
    online_big[:, 1] = rng.uniform(FLIP_SEPAL_WIDTH + 0.1, 6.0, len(online_big))
    online_x = np.vstack([x_te, online_big])
    online_y = np.concatenate([y_te, np.full(len(online_big), "setosa")])
    write_csv(out / "data/iris-online.csv", header, table(online_x, online_y))

    # 500 bagged naive Bayes models: about as accurate as one, but every prediction asks each of
    # them in turn, with scikit-learn's per-call overhead (well over 50 ms a row on any CPU).
    slow = BaggingClassifier(GaussianNB(), n_estimators=SLOW_ESTIMATORS, random_state=SEED)
    slow.fit(x_tr, y_tr)
    models = {
        "iris-v1": linear_classifier(),
        "iris-v2": GradientBoostingClassifier(n_estimators=50, random_state=SEED),
        # Strong regularisation blurs versicolor and virginica: about 0.83 accuracy.
        "iris-inaccurate": linear_classifier(c=0.02),
    }
    for model in models.values():
        model.fit(x_tr, y_tr)
    models |= {"iris-slow": slow, "iris-online-flip": flip}
    summary = {}
    for name, model in models.items():
        save(model, out / f"models/{name}.skops")
        summary[name] = {
            "accuracy": float(np.mean(model.predict(x_te) == y_te)),
            "onlineAccuracy": float(np.mean(model.predict(online_x) == online_y)),
        }
    return summary


def breast_cancer(out: Path) -> dict[str, Any]:
    d = datasets.load_breast_cancer()
    names = [n.replace(" ", "_") for n in d.feature_names]
    x, y = d.data.copy(), d.target_names[d.target]
    rng = np.random.default_rng(SEED)
    clinic = np.where(rng.random(len(x)) < SOUTH_SHARE, "south", "north")
    x[clinic == "south"] *= SOUTH_CALIBRATION
    idx = np.arange(len(x))
    tr, te = train_test_split(idx, test_size=0.4, random_state=SEED, stratify=y)
    header = [*names, "clinic", "diagnosis"]
    write_csv(out / "data/cancer-train.csv", header, table(x[tr], clinic[tr], y[tr]))
    write_csv(out / "data/cancer-test.csv", header, table(x[te], clinic[te], y[te]))
    north = tr[clinic[tr] == "north"]
    models = {
        "cancer-v1": linear_classifier().fit(x[tr], y[tr]),
        "cancer-unfair": linear_classifier().fit(x[north], y[north]),
    }
    summary = {}
    for name, model in models.items():
        save(model, out / f"models/{name}.skops")
        right = model.predict(x[te]) == y[te]
        summary[name] = {
            "accuracy": float(right.mean()),
            "north": float(right[clinic[te] == "north"].mean()),
            "south": float(right[clinic[te] == "south"].mean()),
        }
    return summary


def diabetes(out: Path) -> dict[str, Any]:
    d = datasets.load_diabetes(scaled=False)
    x, y = d.data, d.target
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0)
    header = [*d.feature_names, "progression"]
    write_csv(out / "data/diabetes-train.csv", header, table(x_tr, y_tr))
    write_csv(out / "data/diabetes-test.csv", header, table(x_te, y_te))
    models = {
        "diabetes-v1": GradientBoostingRegressor(
            max_depth=2, n_estimators=150, learning_rate=0.05, subsample=0.8, random_state=SEED
        ),
        # On 442 rows a regularised linear model generalises better than boosted trees.
        "diabetes-v2": make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
    }
    summary = {}
    for name, model in models.items():
        model.fit(x_tr, y_tr)
        save(model, out / f"models/{name}.skops")
        error = model.predict(x_te) - y_te
        summary[name] = {
            "rmse": float(np.sqrt(np.mean(error**2))),
            "r2": float(1 - np.sum(error**2) / np.sum((y_te - y_te.mean()) ** 2)),
        }
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="directory to write models/ and data/ into (default: this examples/ folder)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    for make in (iris, breast_cancer, diabetes):
        for name, figures in make(args.out).items():
            shown = "  ".join(f"{k}={v:.3f}" for k, v in figures.items())
            print(f"{name:<18} {shown}")
    print(
        f"wrote {args.out / 'models'} and {args.out / 'data'} in {time.monotonic() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
