"""The types a skops file may contain beyond skops' own defaults: a vetted allow-list of classes.

`loading` refuses a file naming anything else, and hands skops `allowed()`, never the file's list.
"""

# skops already trusts plain scikit-learn estimators and numpy arrays. These are the helper
# classes fitted estimators carry inside (trees, losses, kernels...), found by saving every
# scikit-learn classifier and regressor. They are data holders: constructing them runs no user code.
#
# Only exact class names are trusted, never a module prefix: a module's namespace also holds what
# it imports (functions such as `pairwise_kernels` or `clone`, modules such as `np` or
# `__builtins__`), and skops will call any function it is allowed to import, so trusting
# "sklearn.metrics._dist_metrics.*" let a file reach `builtins.exec`.

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable

_CLASSES_BY_MODULE: dict[str, tuple[str, ...]] = {
    "sklearn.tree._tree": ("Tree",),
    "sklearn.ensemble._hist_gradient_boosting.predictor": ("TreePredictor",),
    "sklearn.ensemble._hist_gradient_boosting.binning": ("_BinMapper",),
    "sklearn.calibration": ("_CalibratedClassifier", "_SigmoidCalibration"),
    "sklearn.neighbors._kd_tree": ("KDTree",),
    "sklearn.neighbors._ball_tree": ("BallTree",),
    "sklearn.neural_network._stochastic_optimizers": ("AdamOptimizer", "SGDOptimizer"),
    "sklearn.gaussian_process._gpc": ("_BinaryGaussianProcessClassifierLaplace",),
    "sklearn.multiclass": ("_ConstantPredictor",),
    "sklearn._loss.loss": (
        "BaseLoss", "HalfSquaredError", "AbsoluteError", "PinballLoss", "HuberLoss",
        "HalfPoissonLoss", "HalfGammaLoss", "HalfTweedieLoss", "HalfTweedieLossIdentity",
        "HalfBinomialLoss", "HalfMultinomialLoss", "ExponentialLoss", "ArrayAPILossMixin",
        "HalfBinomialLossArrayAPI", "HalfMultinomialLossArrayAPI", "HalfPoissonLossArrayAPI",
    ),
    "sklearn._loss.link": (
        "Interval", "BaseLink", "IdentityLink", "LogLink", "LogitLink", "HalfLogitLink",
        "MultinomialLogit",
    ),
    "sklearn.gaussian_process.kernels": (
        "Hyperparameter", "Kernel", "NormalizedKernelMixin", "StationaryKernelMixin",
        "GenericKernelMixin", "CompoundKernel", "KernelOperator", "Sum", "Product",
        "Exponentiation", "ConstantKernel", "WhiteKernel", "RBF", "Matern", "RationalQuadratic",
        "ExpSineSquared", "DotProduct", "PairwiseKernel",
    ),
    # Not PyFuncDistance32/64: they exist to call a Python function on every distance.
    "sklearn.metrics._dist_metrics": tuple(
        f"{name}{bits}"
        for bits in ("", "32", "64")
        for name in (
            "DistanceMetric", "EuclideanDistance", "SEuclideanDistance", "ManhattanDistance",
            "ChebyshevDistance", "MinkowskiDistance", "MahalanobisDistance", "HammingDistance",
            "CanberraDistance", "BrayCurtisDistance", "JaccardDistance", "MatchingDistance",
            "DiceDistance", "KulsinskiDistance", "RogersTanimotoDistance", "RussellRaoDistance",
            "SokalMichenerDistance", "SokalSneathDistance", "HaversineDistance",
        )
        if bits or name == "DistanceMetric"
    ),
}  # fmt: skip

TRUSTED_TYPES: frozenset[str] = frozenset(
    f"{module}.{name}" for module, names in _CLASSES_BY_MODULE.items() for name in names
)


def vet(names: Iterable[str]) -> frozenset[str]:
    """The names in `names` that are a class defined in the module the name says.

    Drops functions, modules, re-exported classes (their `__module__` is elsewhere), attributes of a
    class ("Module.Class.method") and dunder names. It imports the modules named, so it is for this
    file's own list: never pass it names read from a model file.
    """
    return frozenset(name for name in names if _is_class_defined_at(name))


@functools.cache
def allowed() -> frozenset[str]:
    """The trusted list as this scikit-learn defines it: what skops is told to trust."""
    return vet(TRUSTED_TYPES)


def is_trusted(type_name: str) -> bool:
    return type_name in allowed()


def untrusted(type_names: Iterable[str]) -> list[str]:
    """The names in `type_names` that are not on the vetted list, sorted, for the refusal message."""
    return sorted(name for name in set(type_names) if not is_trusted(name))


def _is_class_defined_at(name: str) -> bool:
    module_name, _, attr = name.rpartition(".")
    if not module_name or any(part.startswith("__") for part in name.split(".")):
        return False
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    return (
        isinstance(value, type) and value.__module__ == module_name and value.__qualname__ == attr
    )
