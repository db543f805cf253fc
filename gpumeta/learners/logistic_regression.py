"""`logistic_regression`: an L2 logistic regression on standardised features (cuML on cuda, scikit-learn
on cpu: `Backend.sklearn_like` picks).

Missing values are imputed with the training mean, which also makes them contribute nothing. Saved as
JSON (coefficients, intercept, and the standardisation), evaluated with the backend's array module.
Contributions are exact linear SHAP against the training mean: coef_j * (x_j - mean_j) / scale_j, with
the intercept as the bias, so each row sums to its margin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..atomic import write_json
from .base import BinaryModel, Learner, OnRound, file_in, tick


class LinearBinary(BinaryModel):
    def __init__(self, coef, intercept: float, mean, scale, backend):
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.backend = backend
        self.best_iteration = 0
        self.evals_result = {}

    def _centred(self, X):
        """(X - mean) with missing values at the mean, on the backend's device."""
        xp = self.backend.xp
        X = xp.asarray(X, dtype=xp.float64)
        mean = xp.asarray(self.mean)
        return xp.where(xp.isnan(X), 0.0, X - mean)

    def contributions(self, X) -> np.ndarray:
        xp = self.backend.xp
        per_feature = self._centred(X) * xp.asarray(self.coef / self.scale)
        bias = xp.full((per_feature.shape[0], 1), self.intercept)
        return self.backend.to_host(xp.concatenate([per_feature, bias], axis=1))

    def margin(self, X) -> np.ndarray:
        xp = self.backend.xp
        return self.backend.to_host(self._centred(X) @ xp.asarray(self.coef / self.scale) + self.intercept)

    def feature_importance(self) -> np.ndarray:
        # No gain in a linear model: |coefficient| per standard deviation of the feature.
        return np.abs(self.coef)

    def save(self, directory: Path, stem: str) -> list[str]:
        name = f"{stem}.linear.json"
        write_json(Path(directory) / name, {"model": "logistic_regression", "coef": self.coef.tolist(),
                                            "intercept": self.intercept, "mean": self.mean.tolist(),
                                            "scale": self.scale.tolist()})
        return [name]

    @classmethod
    def load(cls, directory: Path, spec: dict, backend) -> LinearBinary:
        data = json.loads(file_in(directory, spec, "logistic regression").read_text())
        return cls(data["coef"], data["intercept"], data["mean"], data["scale"], backend)


class LogisticRegressionLearner(Learner):
    """L2-penalised logistic regression (lbfgs on cpu, cuML's qn solver on cuda); no rounds."""

    name = "logistic_regression"
    model_class = LinearBinary
    DEFAULTS: ClassVar[dict] = {"C": 1.0, "max_iter": 1000, "tol": 1e-4}

    def fit_binary(self, backend, X_train, y_train, w_train, X_val, y_val, w_val, *, n_rounds=None,
                   seed: int, nthread: int, on_round: OnRound = None) -> LinearBinary:
        xp = backend.xp
        X = xp.asarray(X_train, dtype=xp.float64)
        mean = xp.nanmean(X, axis=0)
        mean = xp.where(xp.isnan(mean), 0.0, mean)  # an all-missing column
        centred = xp.where(xp.isnan(X), 0.0, X - mean)
        scale = xp.sqrt((centred ** 2).mean(axis=0))
        scale = xp.where(scale > 0, scale, 1.0)
        estimator = backend.sklearn_like("sklearn.linear_model.LogisticRegression",
                                         "cuml.linear_model.LogisticRegression")
        # lbfgs/qn are deterministic: no seed to pass.
        fitted = estimator(C=self.params["C"], max_iter=self.params["max_iter"], tol=self.params["tol"]).fit(
            centred / scale, y_train, sample_weight=w_train)
        tick(on_round)
        coef = np.asarray(backend.to_host(fitted.coef_), dtype=np.float64).reshape(-1)
        intercept = float(np.asarray(backend.to_host(fitted.intercept_)).reshape(-1)[0])
        return LinearBinary(coef, intercept, backend.to_host(mean), backend.to_host(scale), backend)
