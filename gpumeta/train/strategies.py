"""How a model is fitted on a set of training rows: the `single` strategy (one matrix, one device).

`fit_model` is the one entry point the workflow calls for every fold and the final model; strategies that
spread work over a dask cluster plug in here with the same signature.
"""

from __future__ import annotations

import numpy as np

from ..errors import GpumetaError
from ..model import MetaModel
from .config import TrainConfig
from .fit import fit_one_vs_rest

STRATEGIES = ("auto", "single", "multi-instance", "distributed")


def choose_strategy(requested: str, dataset, n_train_genes: int, n_genes: int, config: TrainConfig,
                    cluster=None) -> tuple[str, str]:
    """(strategy, reason)."""
    if requested not in STRATEGIES:
        raise GpumetaError(f"unknown strategy {requested!r}: use one of {', '.join(STRATEGIES)}")
    if requested != "auto":
        return requested, "requested"
    return "single", "the training matrix fits one device"


def fit_model(strategy: str, dataset, train_rows: np.ndarray, val_rows: np.ndarray, features: list[str],
              logit_features: list[str], config: TrainConfig, weights: np.ndarray | None = None,
              on_round=None, cluster=None) -> MetaModel:
    """An uncalibrated model fitted on `train_rows`, early-stopped on `val_rows` (rows of `dataset`)."""
    if strategy != "single":
        raise GpumetaError(f"strategy {strategy!r} is not available in this build")
    logit_idx = [features.index(f) for f in logit_features]
    out = fit_one_vs_rest(dataset.backend, dataset.X, dataset.y, train_rows, val_rows, logit_idx, config.booster,
                          config.seed, weights, on_round)
    return MetaModel(boosters=out.boosters, feature_names=list(features), logit_features=list(logit_features),
                     evals_result=out.evals_result, backend=dataset.backend)
