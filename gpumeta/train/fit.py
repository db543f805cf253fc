"""Fit the three one-vs-rest boosters on rows of a matrix: early-stopped on validation rows, or for fixed
rounds per class (`BoosterParams.rounds`), when validation rows, if any, are only watched.

The training matrix is handed to xgboost as a QuantileDMatrix built from row chunks (an xgboost DataIter),
so only one chunk of the learner's view (probability columns on the logit scale) exists at a time: peak
memory stays near the raw matrix plus xgboost's quantised copy. On the cuda backend the chunks are CuPy
arrays and never leave the device. One quantised matrix serves all three classes (only the label changes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..model import logit_columns
from ..schema import LABELS
from .config import BoosterParams

_CHUNK_ROWS = 1 << 16


def _data_iter(backend, X, rows: np.ndarray, label: np.ndarray, weight: np.ndarray | None, logit_idx):
    import xgboost as xgb

    class RowChunks(xgb.DataIter):
        """Rows of X in chunks, transformed on the fly."""

        def __init__(self):
            self._starts = list(range(0, len(rows), _CHUNK_ROWS))
            self._i = 0
            super().__init__(release_data=True)

        def next(self, input_data) -> bool:
            if self._i >= len(self._starts):
                return False
            idx = rows[self._starts[self._i]:self._starts[self._i] + _CHUNK_ROWS]
            chunk = logit_columns(X[backend.asarray(idx)], logit_idx, backend.xp)
            input_data(data=chunk, label=backend.asarray(label[idx]),
                       weight=None if weight is None else backend.asarray(weight[idx]))
            self._i += 1
            return True

        def reset(self) -> None:
            self._i = 0

    return RowChunks()


@dataclass
class FitOutput:
    boosters: list            # LABELS order, cut at their best iteration
    evals_result: dict        # {label: {"train": {"logloss": [...]}, "validation": {...}}, "best_iteration": n}


def fit_one_vs_rest(backend, X, y: np.ndarray, train_rows: np.ndarray, val_rows: np.ndarray, logit_idx,
                    params: BoosterParams, seed: int, weights: np.ndarray | None = None,
                    on_round: Callable[[], None] | None = None, nthread: int | None = None) -> FitOutput:
    """Train one binary booster per class; `on_round` is called after every boosting round.

    With `params.rounds` each class trains exactly that many rounds and `val_rows` (may be empty) are only
    evaluated, for the learning curves. `nthread` bounds xgboost's threads (a dask worker passes its own
    share of the machine).
    """
    import xgboost as xgb

    fixed = params.rounds
    if fixed is None and not len(val_rows):
        raise ValueError("early stopping needs validation rows; give params.rounds to train without them")
    xgb_params = params.xgb_params(backend.xgb_device, nthread or backend.n_threads, seed)
    targets = [(y == k).astype(np.float32) for k in range(len(LABELS))]
    dtrain = backend.quantile_dmatrix(_data_iter(backend, X, train_rows, targets[0], weights, logit_idx),
                                      max_bin=params.max_bin)
    dval = backend.quantile_dmatrix(_data_iter(backend, X, val_rows, targets[0], weights, logit_idx),
                                    ref=dtrain, max_bin=params.max_bin) if len(val_rows) else None
    watched = [(dtrain, "train")] + ([(dval, "validation")] if dval is not None else [])

    class Tick(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            if on_round is not None:
                on_round()
            return False

    boosters, curves = [], {}
    for k, label in enumerate(LABELS):
        dtrain.set_label(backend.asarray(targets[k][train_rows]))
        if dval is not None:
            dval.set_label(backend.asarray(targets[k][val_rows]))
        log: dict = {}
        booster = xgb.train(xgb_params, dtrain, num_boost_round=params.n_estimators if fixed is None else fixed[k],
                            evals=watched, evals_result=log,
                            early_stopping_rounds=params.early_stopping_rounds if fixed is None else None,
                            verbose_eval=False, callbacks=[Tick()])
        best = int(booster.best_iteration) if fixed is None else fixed[k] - 1
        boosters.append(booster[: best + 1] if params.cut_at_best else booster)
        curves[label] = {**log, "best_iteration": best}
    return FitOutput(boosters=boosters, evals_result=curves)
