"""`xgboost-multilabel`: one xgboost booster for the three classes at once (multi-output trees).

Each round grows one tree whose leaves hold a value per class (``multi_strategy="multi_output_tree"``,
binary:logistic per output), from one quantised matrix with a label column per class, where `xgboost`
grows three trees per round from three labels. Each class is still its own one-vs-rest output, calibrated
and thresholded on its own; the classes share the tree structure and the number of rounds (early stopping
watches their mean logloss). xgboost 3.2 computes no SHAP values for such trees ("not yet implemented"); 3.4
calls its vector-leaf work complete, so the installed xgboost is asked once (`vector_leaf_shap`), and where it
cannot, train refuses the learner unless SHAP is skipped and `contributions` says why.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..errors import GpumetaError
from ..schema import LABELS
from .base import OnRound, file_in, no_shap_error
from .xgboost_learner import XGBoostBinary, XGBoostLearner


@functools.cache
def vector_leaf_shap() -> bool:
    """Whether the installed xgboost computes SHAP values of multi-output trees (a one-round probe)."""
    import xgboost as xgb

    X = np.arange(16, dtype=np.float32).reshape(8, 2)
    labels = np.column_stack([X[:, 0] > 7, X[:, 1] > 9]).astype(np.float32)
    booster = xgb.train({"multi_strategy": "multi_output_tree", "objective": "binary:logistic", "nthread": 1},
                        xgb.DMatrix(X, label=labels), num_boost_round=1)
    try:
        booster.predict(xgb.DMatrix(X), pred_contribs=True)
    except xgb.core.XGBoostError:
        return False
    return True


class XGBoostClassOutput(XGBoostBinary):
    """One class's output of a multi-label booster; each class's file holds the whole booster."""

    def __init__(self, booster, backend, output: int, best_iteration: int = 0, evals_result: dict | None = None):
        super().__init__(booster, backend, best_iteration, evals_result)
        self.output = output

    def margin(self, X) -> np.ndarray:
        margins = self.booster.inplace_predict(X, predict_type="margin")
        return np.asarray(self.backend.to_host(margins[:, self.output]), dtype=np.float64)

    def contributions(self, X) -> np.ndarray:
        if not vector_leaf_shap():
            raise no_shap_error(XGBoostMultiLabelLearner.name)
        every_output = self.booster.predict(self.backend.dmatrix(X), pred_contribs=True)  # (n, classes, p + 1)
        return self.backend.to_host(every_output[:, self.output, :])

    @classmethod
    def load(cls, directory: Path, spec: dict, backend) -> XGBoostClassOutput:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(file_in(directory, spec, "xgboost")))
        return cls(booster, backend, LABELS.index(spec["label"]), spec.get("best_iteration", 0))


class XGBoostMultiLabelLearner(XGBoostLearner):
    """The `xgboost` learner's parameters, one booster with a leaf value per class."""

    name = "xgboost-multilabel"
    model_class = XGBoostClassOutput
    boosts_from_base = False

    @classmethod
    def explains(cls) -> bool:
        return vector_leaf_shap()

    def booster_params(self, backend, seed: int, nthread: int) -> dict:
        return {**super().booster_params(backend, seed, nthread), "multi_strategy": "multi_output_tree"}

    def fit_one_vs_rest(self, backend, X, y, train_rows, val_rows, logit_idx, *, weights=None, n_rounds=None,
                        seed: int, nthread: int, on_round: OnRound = None,
                        base_margin_idx=(), base_margin_classes=LABELS) -> list[XGBoostClassOutput]:
        if len(base_margin_idx):
            self.check_boost_from_base()
        if n_rounds is not None and len(set(n_rounds)) > 1:
            raise GpumetaError(f"algorithm 'xgboost-multilabel' boosts the three classes together: booster rounds "
                               f"{list(n_rounds)} must be one count for all of them")
        targets = np.stack([(y == k) for k in range(len(LABELS))], axis=1).astype(np.float32)
        dtrain, dval = self.quantised(backend, X, train_rows, val_rows, targets, weights, logit_idx)

        def ticks() -> None:  # progress counts class-rounds: one round here is one for each class
            for _ in LABELS:
                on_round()

        fitted = self._boost(backend, dtrain, dval, None if n_rounds is None else int(n_rounds[0]), seed, nthread,
                             None if on_round is None else ticks)
        return [XGBoostClassOutput(fitted.booster, backend, k, fitted.best_iteration, fitted.evals_result)
                for k in range(len(LABELS))]
