"""Learners: the algorithms a meta-model can be trained with, behind one interface (see `base`).

Adding an algorithm is one module with a `Learner` subclass (and its `BinaryModel`, unless it reuses
one) plus one line in `ALGORITHMS`. Optional libraries are imported only when their learner fits or
loads, and a missing one is reported with the pip extra that installs it.

A learner that has a scikit-learn estimator and a cuML twin takes the class from
``Backend.sklearn_like(sklearn_path, cuml_path)``: the backend seam decides, not the learner.
"""

from __future__ import annotations

import importlib.util

from ..errors import GpumetaError
from .base import BinaryModel, Learner
from .catboost_learner import CatBoostLearner
from .lightgbm_learner import LightGBMLearner
from .logistic_regression import LogisticRegressionLearner
from .random_forest import RandomForestLearner
from .xgboost_learner import XGBoostLearner
from .xgboost_multilabel import XGBoostMultiLabelLearner
from .xgboost_rf import XGBoostRFLearner

ALGORITHMS: dict[str, type[Learner]] = {
    "xgboost": XGBoostLearner,
    "xgboost-rf": XGBoostRFLearner,
    "xgboost-multilabel": XGBoostMultiLabelLearner,
    "lightgbm": LightGBMLearner,
    "catboost": CatBoostLearner,
    "random_forest": RandomForestLearner,
    "logistic_regression": LogisticRegressionLearner,
}
DEFAULT_ALGORITHM = "xgboost"

__all__ = ["ALGORITHMS", "DEFAULT_ALGORITHM", "BinaryModel", "Learner", "get_algorithm", "learner_class"]


def learner_class(name: str) -> type[Learner]:
    """The learner class registered as `name`, its optional library checked; one-line errors otherwise."""
    if name not in ALGORITHMS:
        raise GpumetaError(f"unknown algorithm {name!r}: use one of {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    missing = [module for module in cls.requires if importlib.util.find_spec(module) is None]
    if missing:
        raise GpumetaError(f"algorithm {name!r} needs the {', '.join(missing)} package: "
                           f"pip install 'gpumeta[{cls.extra}]'")
    return cls


def get_algorithm(name: str, params: dict | None = None) -> Learner:
    """A learner of algorithm `name` with `params` over its defaults (unknown names/params: one-line error)."""
    if params is not None and not isinstance(params, dict):
        raise GpumetaError(f"algorithm parameters must be a JSON object of name: value, got {params!r}")
    return learner_class(name)(**(params or {}))
