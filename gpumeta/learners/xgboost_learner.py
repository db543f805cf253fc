"""`xgboost`: gradient-boosted trees, the default learner (device="cuda" on the GPU backend).

Fitting streams rows of the raw matrix into one QuantileDMatrix through an xgboost DataIter, so only one
chunk of the learner's view exists at a time and, on cuda, the chunks never leave the device; the three
classes share that quantised matrix (only the label changes). That is why this learner overrides
`fit_one_vs_rest` instead of receiving a materialised matrix. Saved as xgboost UBJSON.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..model import logit_columns
from ..schema import LABELS
from .base import BinaryModel, Learner, OnRound, file_in, starting_margins

_CHUNK_ROWS = 1 << 16


def _row_chunks(backend, X, rows: np.ndarray, label: np.ndarray, weight: np.ndarray | None, logit_idx):
    import xgboost as xgb

    class RowChunks(xgb.DataIter):
        """Rows of X in chunks, put in the learner's view on the fly."""

        def __init__(self):
            self._starts = list(range(0, len(rows), _CHUNK_ROWS))
            self._i = 0
            super().__init__(release_data=True)

        def next(self, input_data) -> bool:
            if self._i >= len(self._starts):
                return False
            idx = rows[self._starts[self._i]:self._starts[self._i] + _CHUNK_ROWS]
            chunk = logit_columns(X[backend.asarray(idx)], logit_idx, backend.xp, copy=False)
            input_data(data=chunk, label=backend.asarray(label[idx]),
                       weight=None if weight is None else backend.asarray(weight[idx]))
            self._i += 1
            return True

        def reset(self) -> None:
            self._i = 0

    return RowChunks()


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C while xgboost builds a quantised matrix is held until it has, then raised as usual.

    xgboost calls the row-chunk iterator back from C and catches only Exception there: a KeyboardInterrupt
    raised inside that callback left the iterator half-run and crashed the process (heap corruption, SIGSEGV)
    or failed with an xgboost range error. Signals reach the main thread only, so a fit in another thread
    (CV folds side by side) needs no hold: its stop comes from the main thread.
    """
    if threading.current_thread() is not threading.main_thread() or not callable(signal.getsignal(signal.SIGINT)):
        yield
        return
    held: list = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        previous(*held[0])  # Python's handler (or the embedding program's), now outside xgboost


def watched(dtrain, dval) -> list:
    """The matrices whose loss is logged each round: validation only when there are validation rows (a
    fixed-rounds fit may have none)."""
    return [(dtrain, "train")] + ([(dval, "validation")] if dval is not None else [])


class XGBoostBinary(BinaryModel):
    """An xgboost Booster cut at its best iteration, predicting on the backend's device."""

    def __init__(self, booster, backend, best_iteration: int = 0, evals_result: dict | None = None):
        booster.set_param({"device": backend.xgb_device, "nthread": backend.n_threads})
        self.booster = booster
        self.backend = backend
        self.best_iteration = int(best_iteration)
        self.evals_result = evals_result or {}

    def margin(self, X) -> np.ndarray:
        return np.asarray(self.backend.to_host(self.booster.inplace_predict(X, predict_type="margin")),
                          dtype=np.float64)

    def contributions(self, X) -> np.ndarray:
        # TreeSHAP; GPUTreeShap when the booster's device is cuda.
        return self.backend.to_host(self.booster.predict(self.backend.dmatrix(X), pred_contribs=True))

    # xgboost replaces a booster's base_score by the base_margin given, in training and at prediction: a
    # booster fitted from the base model's logit is given it again here (SHAP's bias column then holds it).
    def margin_from_base(self, X, base_margin: np.ndarray) -> np.ndarray:
        margin = self.booster.inplace_predict(X, predict_type="margin",
                                              base_margin=np.ascontiguousarray(base_margin, dtype=np.float32))
        return np.asarray(self.backend.to_host(margin), dtype=np.float64)

    def contributions_from_base(self, X, base_margin: np.ndarray) -> np.ndarray:
        matrix = self.backend.dmatrix(X)
        matrix.set_base_margin(np.ascontiguousarray(base_margin, dtype=np.float32))
        return self.backend.to_host(self.booster.predict(matrix, pred_contribs=True))

    def feature_importance(self) -> np.ndarray:
        gain = np.zeros(self.booster.num_features(), dtype=np.float64)
        for key, value in self.booster.get_score(importance_type="total_gain").items():
            gain[int(key[1:])] = value
        return gain

    def save(self, directory: Path, stem: str) -> list[str]:
        name = f"{stem}.ubj"
        self.booster.save_model(str(Path(directory) / name))
        return [name]

    @classmethod
    def load(cls, directory: Path, spec: dict, backend) -> XGBoostBinary:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(file_in(directory, spec, "xgboost")))
        return cls(booster, backend, spec.get("best_iteration", 0))


class XGBoostLearner(Learner):
    """Boosted trees with early stopping on the validation rows (binary:logistic, hist)."""

    name = "xgboost"
    model_class = XGBoostBinary
    boosts_from_base = True
    DEFAULTS: ClassVar[dict] = {
        "n_estimators": 1000,  # an upper bound: early stopping on validation genes picks the number
        "learning_rate": 0.3,  # with a patience of 8: see BoosterParams (0.25 and 12 before)
        "max_depth": 6,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 1.0,
        "reg_lambda": 1.0,
        # Bounds each leaf's Newton step: splice sites are ~0.2 % of a class's rows, so boosting starts at
        # a logit near -6 where the hessian is tiny and unbounded leaves oscillate (see BoosterParams).
        "max_delta_step": 3.0,
        "max_bin": 256,
        "early_stopping_rounds": 8,
    }

    def max_rounds(self) -> int:
        return self.params["n_estimators"]

    def booster_params(self, backend, seed: int, nthread: int) -> dict:
        p = self.params
        return {
            "objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
            "device": backend.xgb_device, "nthread": nthread, "seed": seed, "eta": p["learning_rate"],
            "max_depth": p["max_depth"], "subsample": p["subsample"], "colsample_bytree": p["colsample_bytree"],
            "min_child_weight": p["min_child_weight"], "lambda": p["reg_lambda"],
            "max_delta_step": p["max_delta_step"], "max_bin": p["max_bin"],
        }

    def _boost(self, backend, dtrain, dval, n_rounds: int | None, seed: int, nthread: int,
               on_round: OnRound) -> XGBoostBinary:
        import xgboost as xgb

        class Tick(xgb.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log) -> bool:
                if on_round is not None:
                    on_round()
                return False

        log: dict = {}
        booster = xgb.train(self.booster_params(backend, seed, nthread), dtrain,
                            num_boost_round=n_rounds or self.params["n_estimators"],
                            evals=watched(dtrain, dval), evals_result=log,
                            early_stopping_rounds=None if n_rounds else self.params["early_stopping_rounds"],
                            verbose_eval=False, callbacks=[Tick()])
        best = int(booster.best_iteration) if not n_rounds else booster.num_boosted_rounds() - 1
        return XGBoostBinary(booster[: best + 1], backend, best, log)

    def fit_binary(self, backend, X_train, y_train, w_train, X_val, y_val, w_val, *, n_rounds=None,
                   seed: int, nthread: int, on_round: OnRound = None) -> XGBoostBinary:
        max_bin = self.params["max_bin"]
        dtrain = backend.quantile_dmatrix(X_train, label=y_train, weight=w_train, max_bin=max_bin)
        dval = None if X_val is None else backend.quantile_dmatrix(X_val, label=y_val, weight=w_val, ref=dtrain,
                                                                   max_bin=max_bin)
        return self._boost(backend, dtrain, dval, n_rounds, seed, nthread, on_round)

    def quantised(self, backend, X, train_rows, val_rows, label, weights, logit_idx) -> tuple:
        """(training, validation or None) QuantileDMatrix of rows of the raw matrix X, streamed in the learner's
        view; the validation matrix takes the training matrix's cut points."""
        max_bin = self.params["max_bin"]
        with _interrupts_held():
            dtrain = backend.quantile_dmatrix(_row_chunks(backend, X, train_rows, label, weights, logit_idx),
                                              max_bin=max_bin)
            dval = backend.quantile_dmatrix(_row_chunks(backend, X, val_rows, label, weights, logit_idx),
                                            ref=dtrain, max_bin=max_bin) if len(val_rows) else None
        return dtrain, dval

    def fit_one_vs_rest(self, backend, X, y, train_rows, val_rows, logit_idx, *, weights=None, n_rounds=None,
                        seed: int, nthread: int, on_round: OnRound = None,
                        base_margin_idx=(), base_margin_classes=LABELS) -> list[XGBoostBinary]:
        targets = [(y == k).astype(np.float32) for k in range(len(LABELS))]
        dtrain, dval = self.quantised(backend, X, train_rows, val_rows, targets[0], weights, logit_idx)
        # Boosting from the base model: a class starts from its base logit, set per class like the label; an
        # empty base margin clears it for a class boosted from zero (xgboost then uses its own base_score).
        starts = [starting_margins(backend, X, rows, base_margin_idx) for rows in (train_rows, val_rows)]
        models = []
        for k in range(len(LABELS)):
            dtrain.set_label(backend.asarray(targets[k][train_rows]))
            if dval is not None:
                dval.set_label(backend.asarray(targets[k][val_rows]))
            for matrix, start in zip((dtrain, dval), starts):
                if start is not None:
                    matrix.set_base_margin(backend.xp.ascontiguousarray(start[:, k])
                                           if LABELS[k] in base_margin_classes else np.empty(0, np.float32))
            models.append(self._boost(backend, dtrain, dval, None if n_rounds is None else int(n_rounds[k]),
                                      seed, nthread, on_round))
        return models
