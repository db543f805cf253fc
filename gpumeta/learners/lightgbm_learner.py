"""`lightgbm`: LightGBM gradient-boosted trees (optional extra ``gpumeta[lightgbm]``).

LightGBM's pip wheel computes on the host (its CUDA build is a separate compile), so on cuda the
learner's view is copied to the host for fitting and prediction. Saved as LightGBM's text model;
contributions are its native TreeSHAP (``pred_contrib``). Boosting from the base model's logit is
LightGBM's ``init_score``, which the saved model does not hold: `margin_from_base` adds it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from .base import BinaryModel, Learner, OnRound, file_in, host_float32, host_or_none


class LightGBMBinary(BinaryModel):
    def __init__(self, booster, backend, best_iteration: int = 0, evals_result: dict | None = None):
        self.booster = booster
        self.backend = backend
        self.best_iteration = int(best_iteration)
        self.evals_result = evals_result or {}

    def margin(self, X) -> np.ndarray:
        return np.asarray(self.booster.predict(host_float32(self.backend, X), raw_score=True), dtype=np.float64)

    def contributions(self, X) -> np.ndarray:
        return np.asarray(self.booster.predict(host_float32(self.backend, X), pred_contrib=True))

    def feature_importance(self) -> np.ndarray:
        return np.asarray(self.booster.feature_importance(importance_type="gain"), dtype=np.float64)

    def save(self, directory: Path, stem: str) -> list[str]:
        name = f"{stem}.lgb.txt"
        self.booster.save_model(str(Path(directory) / name))
        return [name]

    @classmethod
    def load(cls, directory: Path, spec: dict, backend) -> LightGBMBinary:
        import lightgbm as lgb

        return cls(lgb.Booster(model_file=str(file_in(directory, spec, "LightGBM"))), backend,
                   spec.get("best_iteration", 0))


class LightGBMLearner(Learner):
    """Leaf-wise boosted trees with early stopping on the validation rows."""

    name = "lightgbm"
    model_class = LightGBMBinary
    boosts_from_base = True
    requires = ("lightgbm",)
    extra = "lightgbm"
    DEFAULTS: ClassVar[dict] = {
        "n_estimators": 1000,  # an upper bound: early stopping picks the number
        "learning_rate": 0.1,
        "num_leaves": 63,
        "max_depth": -1,
        "min_child_samples": 20,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "max_bin": 255,
        "early_stopping_rounds": 30,
    }

    def uses_device(self, backend) -> bool:
        return False

    def max_rounds(self) -> int:
        return self.params["n_estimators"]

    def fit_binary(self, backend, X_train, y_train, w_train, X_val, y_val, w_val, *, n_rounds=None,
                   seed: int, nthread: int, on_round: OnRound = None, start_train=None,
                   start_val=None) -> LightGBMBinary:
        import lightgbm as lgb

        p = self.params
        params = {
            "objective": "binary", "metric": "binary_logloss", "learning_rate": p["learning_rate"],
            "num_leaves": p["num_leaves"], "max_depth": p["max_depth"],
            "min_child_samples": p["min_child_samples"], "bagging_fraction": p["subsample"],
            "bagging_freq": 1 if p["subsample"] < 1 else 0, "feature_fraction": p["colsample_bytree"],
            "lambda_l2": p["reg_lambda"], "max_bin": p["max_bin"], "seed": seed, "num_threads": nthread,
            "deterministic": True, "verbosity": -1,
        }
        dtrain = lgb.Dataset(host_float32(backend, X_train), label=host_or_none(backend, y_train),
                             weight=host_or_none(backend, w_train), init_score=start_train,
                             params={"max_bin": p["max_bin"]})
        sets = {"train": dtrain}
        if X_val is not None:
            sets["validation"] = lgb.Dataset(host_float32(backend, X_val), label=host_or_none(backend, y_val),
                                             weight=host_or_none(backend, w_val), init_score=start_val,
                                             reference=dtrain)
        log: dict = {}
        callbacks = [lgb.record_evaluation(log), lambda env: on_round() if on_round is not None else None]
        if not n_rounds:
            callbacks.append(lgb.early_stopping(p["early_stopping_rounds"], first_metric_only=True, verbose=False))
        booster = lgb.train(params, dtrain, num_boost_round=n_rounds or p["n_estimators"],
                            valid_sets=list(sets.values()), valid_names=list(sets), callbacks=callbacks)
        kept = booster.best_iteration if not n_rounds and booster.best_iteration > 0 else booster.current_iteration()
        curves = {name: {"logloss": list(values["binary_logloss"])} for name, values in log.items()}
        # Keep only the chosen trees, so the in-memory model and its saved file predict the same.
        cut = lgb.Booster(model_str=booster.model_to_string(num_iteration=kept))
        return LightGBMBinary(cut, backend, kept - 1, curves)
