"""`catboost`: CatBoost oblivious trees (optional extra ``gpumeta[catboost]``); task_type GPU on cuda.

CatBoost takes host matrices (it copies them to the GPU itself); saved as CatBoost's .cbm model format,
which holds trees only; contributions are its native ShapValues.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from .base import BinaryModel, Learner, OnRound, file_in, host_float32, host_or_none, tick


class CatBoostBinary(BinaryModel):
    def __init__(self, model, backend, best_iteration: int = 0, evals_result: dict | None = None):
        self.model = model
        self.backend = backend
        self.best_iteration = int(best_iteration)
        self.evals_result = evals_result or {}

    def _pool(self, X):
        from catboost import Pool

        return Pool(host_float32(self.backend, X))

    def margin(self, X) -> np.ndarray:
        return np.asarray(self.model.predict(self._pool(X), prediction_type="RawFormulaVal"), dtype=np.float64)

    def contributions(self, X) -> np.ndarray:
        return np.asarray(self.model.get_feature_importance(data=self._pool(X), type="ShapValues"))

    def feature_importance(self) -> np.ndarray:
        # CatBoost's gain analogue: how much the prediction moves when a feature's splits change.
        return np.asarray(self.model.get_feature_importance(type="PredictionValuesChange"), dtype=np.float64)

    def save(self, directory: Path, stem: str) -> list[str]:
        name = f"{stem}.cbm"
        self.model.save_model(str(Path(directory) / name), format="cbm")
        return [name]

    @classmethod
    def load(cls, directory: Path, spec: dict, backend) -> CatBoostBinary:
        from catboost import CatBoost

        model = CatBoost()
        model.load_model(str(file_in(directory, spec, "CatBoost")), format="cbm")
        return cls(model, backend, spec.get("best_iteration", 0))


class CatBoostLearner(Learner):
    """Symmetric boosted trees with early stopping on the validation rows."""

    name = "catboost"
    model_class = CatBoostBinary
    boosts_from_base = True
    requires = ("catboost",)
    extra = "catboost"
    DEFAULTS: ClassVar[dict] = {
        "n_estimators": 1000,  # an upper bound: early stopping picks the number
        "learning_rate": 0.1,
        "depth": 6,
        "l2_leaf_reg": 3.0,
        "border_count": 254,
        "early_stopping_rounds": 30,
    }

    def uses_device(self, backend) -> bool:
        return backend.name == "cuda"

    def max_rounds(self) -> int:
        return self.params["n_estimators"]

    def fit_binary(self, backend, X_train, y_train, w_train, X_val, y_val, w_val, *, n_rounds=None,
                   seed: int, nthread: int, on_round: OnRound = None, start_train=None,
                   start_val=None) -> CatBoostBinary:
        from catboost import CatBoost, Pool

        p = self.params
        on_gpu = self.uses_device(backend)
        model = CatBoost({
            "loss_function": "Logloss", "eval_metric": "Logloss", "iterations": n_rounds or p["n_estimators"],
            "learning_rate": p["learning_rate"], "depth": p["depth"], "l2_leaf_reg": p["l2_leaf_reg"],
            "border_count": p["border_count"], "random_seed": seed, "thread_count": nthread,
            "task_type": "GPU" if on_gpu else "CPU", "allow_writing_files": False, "verbose": False,
            "use_best_model": not n_rounds,
            **({} if n_rounds else {"od_type": "Iter", "od_wait": p["early_stopping_rounds"]}),
        })

        class Tick:
            def after_iteration(self, info) -> bool:
                tick(on_round)
                return True  # keep training

        # Boosting from the base model: CatBoost's baseline, which the saved model does not hold (see base).
        train = Pool(host_float32(backend, X_train), label=host_or_none(backend, y_train),
                     weight=host_or_none(backend, w_train), baseline=start_train)
        val = None if X_val is None else Pool(host_float32(backend, X_val), label=host_or_none(backend, y_val),
                                              weight=host_or_none(backend, w_val), baseline=start_val)
        # CatBoost's GPU mode takes no Python callbacks: the progress ticks come after the fit there.
        model.fit(train, eval_set=val, callbacks=None if on_gpu else [Tick()])
        log = model.get_evals_result()
        curves = {name: {"logloss": list(log[key]["Logloss"])} for key, name in
                  (("learn", "train"), ("validation", "validation")) if key in log}
        if on_gpu:
            tick(on_round, len(curves.get("validation", {}).get("logloss", [])))
        best = model.get_best_iteration() if not n_rounds else model.tree_count_ - 1
        return CatBoostBinary(model, backend, best if best is not None else model.tree_count_ - 1, curves)
