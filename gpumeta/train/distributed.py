"""The distributed strategy: one booster per class over all training rows with `xgboost.dask`.

Rows are sorted by gene and cut into partitions at gene boundaries (a gene never straddles two), each
partition is put in the learner's view (probability columns on the logit scale) here and scattered to a
worker in the backend's array type (CuPy on cuda: partitions stay in device memory and xgboost sketches the
quantiles on the GPU), and the partitions form dask arrays for `xgboost.dask.DaskQuantileDMatrix`. Early
stopping uses the validation rows, partitioned the same way.

The matrix is declared once per class: xgboost.dask (3.2, ``dask/data.py:_get_dmatrices``) builds each
worker's QuantileDMatrix inside `train` from the partitions, and a DaskDMatrix has no `set_label`, so the
one-matrix-three-labels reuse of the single strategy is not available here. The partitions themselves are
scattered once and shared by the three fits; only the label column is derived per class.

The result is an ordinary `MetaModel` of the xgboost learner: the boosters xgboost.dask returns are plain
xgboost Boosters, so the model saves, loads and predicts like a single-strategy one. Only the xgboost
algorithm trains this way (`strategies.DISTRIBUTED_ALGORITHM`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..cluster import n_workers_of
from ..errors import GpumetaError
from ..learners.xgboost_learner import XGBoostBinary
from ..model import MetaModel, logit_columns
from ..schema import LABELS
from .config import TrainConfig
from .fit import learner_of, trained_on

#: Rows per partition at most; at least two partitions per worker so every worker holds data.
PARTITION_ROWS = 1 << 18


def gene_partitions(gene_ids: np.ndarray, n_partitions: int) -> list[tuple[int, int]]:
    """(start, end) slices of `gene_ids` (sorted by gene) of about equal size, cut only where the gene changes."""
    n = len(gene_ids)
    if n == 0:
        return []
    starts = np.flatnonzero(np.r_[True, gene_ids[1:] != gene_ids[:-1]])  # first row of every gene
    targets = np.linspace(0, n, n_partitions + 1)[1:-1]
    cuts = np.unique(starts[np.clip(np.searchsorted(starts, targets), 0, len(starts) - 1)])
    bounds = [0, *[int(c) for c in cuts if 0 < c < n], n]
    return list(itertools.pairwise(bounds))


def _one_vs_rest(block, k: int):
    return (block == k).astype(np.float32)  # NumPy or CuPy block alike


class _GenePartitioned:
    """Rows of a dataset as dask arrays (X in the learner's view, y, weights), partitioned at gene boundaries."""

    def __init__(self, client, dataset, rows: np.ndarray, logit_idx, weights, n_partitions: int):
        import dask.array as da

        backend = dataset.backend
        codes = dataset.gene_codes[rows]
        order = np.argsort(codes, kind="stable")  # codes follow gene order
        rows = rows[order]
        self.slices = gene_partitions(codes[order], n_partitions)
        # Round-robin placement: every worker holds data (xgboost.dask trains on the workers holding it).
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])

        def scatter(values, where):
            return client.scatter(backend.dask_partition(values), workers=where, hash=False)

        def column(parts, dtype):
            meta = backend.empty((0,), dtype=dtype)  # tells dask the block type (CuPy on cuda)
            return da.concatenate([da.from_delayed(f, shape=(n,), dtype=dtype, meta=meta)
                                   for f, n in zip(parts, sizes)])

        x_parts, y_parts, w_parts, sizes = [], [], [], []
        for i, (start, end) in enumerate(self.slices):
            part, where = rows[start:end], [workers[i % len(workers)]]
            x = logit_columns(dataset.X[backend.asarray(part)], logit_idx, backend.xp)
            x_parts.append(scatter(x, where))
            sizes.append(len(part))
            y_parts.append(scatter(dataset.y[part].astype(np.int8), where))
            if weights is not None:
                w_parts.append(scatter(weights[part].astype(np.float32), where))
        n_features = int(dataset.X.shape[1])
        x_meta = backend.empty((0, n_features), dtype=np.float32)
        self.X = da.concatenate([da.from_delayed(f, shape=(n, n_features), dtype=np.float32, meta=x_meta)
                                 for f, n in zip(x_parts, sizes)])
        self.y = column(y_parts, np.int8)
        self.weights = None if weights is None else column(w_parts, np.float32)

    def label(self, k: int):
        return self.y.map_blocks(_one_vs_rest, k, dtype=np.float32)


def fit_distributed(dataset, train_rows: np.ndarray, val_rows: np.ndarray, features: list[str],
                    logit_features: list[str], config: TrainConfig, weights: np.ndarray | None = None,
                    on_round=None, client=None) -> MetaModel:
    """One model over `train_rows` trained across the cluster's workers, early-stopped on `val_rows`."""
    import xgboost.dask as dxgb

    if client is None:
        raise GpumetaError("--strategy distributed needs a dask cluster: add --cluster local or "
                           "--scheduler-address tcp://HOST:PORT")
    workers = max(1, n_workers_of(client))
    logit_idx = [features.index(f) for f in logit_features]

    def partitioned(rows):
        n_partitions = max(2 * workers, math.ceil(len(rows) / PARTITION_ROWS))
        return _GenePartitioned(client, dataset, rows, logit_idx, weights, n_partitions)

    train, val = partitioned(train_rows), partitioned(val_rows)
    learner = learner_of(config)
    params = learner.params
    # No nthread: xgboost.dask gives each worker its own thread count.
    xgb_params = {k: v for k, v in learner.booster_params(dataset.backend, config.seed, 1).items()
                  if k != "nthread"}
    models = []
    for k in range(len(LABELS)):
        dtrain = dxgb.DaskQuantileDMatrix(client, train.X, train.label(k), weight=train.weights,
                                          max_bin=params["max_bin"])
        dval = dxgb.DaskQuantileDMatrix(client, val.X, val.label(k), weight=val.weights, ref=dtrain,
                                        max_bin=params["max_bin"])
        out = dxgb.train(client, xgb_params, dtrain, num_boost_round=params["n_estimators"],
                         evals=[(dtrain, "train"), (dval, "validation")],
                         early_stopping_rounds=params["early_stopping_rounds"], verbose_eval=False)
        best = int(out["booster"].best_iteration)
        models.append(XGBoostBinary(out["booster"][: best + 1], dataset.backend, best, out["history"]))
        for _ in range(params["n_estimators"] if on_round is not None else 0):
            on_round()
    return MetaModel(learners=models, feature_names=list(features), logit_features=list(logit_features),
                     algorithm=learner.name, algorithm_params=learner.get_params(), backend=dataset.backend,
                     params={"strategy": "distributed", "n_workers": workers, "n_partitions": len(train.slices),
                             "trained_on": trained_on(learner, dataset.backend, models)})
