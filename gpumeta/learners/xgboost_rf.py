"""`xgboost-rf`: a random forest through xgboost's own RF mode (one round of `num_parallel_tree` trees).

GPU-native like `xgboost` (same streaming fit, TreeSHAP/GPUTreeShap, UBJSON files); only the booster
parameters and the round count differ, the way xgboost's XGBRFClassifier derives from XGBClassifier.
A forest has no rounds to stop early: `n_rounds` and early stopping do not apply.
"""

from __future__ import annotations

from typing import ClassVar

from .xgboost_learner import XGBoostBinary, XGBoostLearner, watched


class XGBoostRFLearner(XGBoostLearner):
    """Bagged trees, each on a row subsample with a feature subsample per split; learning rate 1."""

    name = "xgboost-rf"
    DEFAULTS: ClassVar[dict] = {
        "n_estimators": 200,  # trees in the forest
        "max_depth": 10,
        "subsample": 0.632,  # rows per tree, without replacement (xgboost has no bootstrap)
        "colsample_bynode": 0.5,
        "min_child_weight": 0.01,  # hessian units: rare sites give tiny hessians, see XGBoostLearner
        "reg_lambda": 1e-5,
        "max_bin": 256,
    }

    def max_rounds(self) -> int:
        return 1

    def booster_params(self, backend, seed: int, nthread: int) -> dict:
        p = self.params
        return {
            "objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
            "device": backend.xgb_device, "nthread": nthread, "seed": seed, "eta": 1.0,
            "num_parallel_tree": p["n_estimators"], "max_depth": p["max_depth"], "subsample": p["subsample"],
            "colsample_bynode": p["colsample_bynode"], "min_child_weight": p["min_child_weight"],
            "lambda": p["reg_lambda"], "max_bin": p["max_bin"],
        }

    def _boost(self, backend, dtrain, dval, n_rounds, seed, nthread, on_round):
        import xgboost as xgb

        log: dict = {}
        booster = xgb.train(self.booster_params(backend, seed, nthread), dtrain, num_boost_round=1,
                            evals=watched(dtrain, dval), evals_result=log, verbose_eval=False)
        if on_round is not None:
            on_round()
        return XGBoostBinary(booster, backend, 0, log)
