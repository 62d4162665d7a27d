"""The types a skops file may contain beyond skops' own defaults: a vetted allow-list."""

# skops already trusts plain scikit-learn estimators and numpy arrays. These are the helper
# classes fitted estimators carry inside (trees, losses, kernels...), found by saving every
# scikit-learn classifier and regressor. They are data holders: constructing them runs no user code.

from __future__ import annotations

TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
        "sklearn.multiclass._ConstantPredictor",
    }
)

# Modules made only of such data classes (every loss, kernel and distance metric): trusting the
# module spares an edit here whenever scikit-learn adds one. Functions never live in these.
TRUSTED_MODULES: tuple[str, ...] = (
    "sklearn._loss.loss.",
    "sklearn._loss.link.",
    "sklearn.gaussian_process.kernels.",
    "sklearn.metrics._dist_metrics.",
)


def is_trusted(type_name: str) -> bool:
    return type_name in TRUSTED_TYPES or type_name.startswith(TRUSTED_MODULES)


def untrusted(type_names: list[str]) -> list[str]:
    """The names in `type_names` that are on neither list, sorted, for the refusal message."""
    return sorted(name for name in type_names if not is_trusted(name))
