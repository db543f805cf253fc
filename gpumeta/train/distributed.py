"""The distributed strategy: one booster per class over all training rows with `xgboost.dask`.

Rows are sorted by gene and cut into partitions at gene boundaries (a gene never straddles two), each
partition is put in the learner's view (probability columns on the logit scale) here and scattered to a
worker, and the partitions form dask arrays for `xgboost.dask.DaskQuantileDMatrix`. Early stopping uses the
validation rows, partitioned the same way. The result is an ordinary `MetaModel`: the boosters xgboost.dask
returns are plain xgboost Boosters, so the model saves, loads and predicts like a single-strategy one.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..cluster import n_workers_of
from ..errors import GpumetaError
from ..model import MetaModel, logit_columns
from ..schema import LABELS
from .config import TrainConfig

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


def _one_vs_rest(block: np.ndarray, k: int) -> np.ndarray:
    return (block == k).astype(np.float32)


class _GenePartitioned:
    """Rows of a dataset as dask arrays (X in the learner's view, y, weights), partitioned at gene boundaries."""

    def __init__(self, client, dataset, rows: np.ndarray, logit_idx, weights, n_partitions: int):
        import dask.array as da

        backend = dataset.backend
        rows = rows[np.argsort(dataset.gene_ids[rows], kind="stable")]
        self.slices = gene_partitions(dataset.gene_ids[rows], n_partitions)
        # Round-robin placement: every worker holds data (xgboost.dask trains on the workers holding it).
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        x_parts, y_parts, w_parts = [], [], []
        for i, (start, end) in enumerate(self.slices):
            part, where = rows[start:end], [workers[i % len(workers)]]
            x = backend.to_host(logit_columns(dataset.X[backend.asarray(part)], logit_idx, backend.xp))
            x_parts.append((client.scatter(x.astype(np.float32, copy=False), workers=where, hash=False), x.shape))
            y_parts.append(client.scatter(dataset.y[part].astype(np.int8), workers=where, hash=False))
            if weights is not None:
                w_parts.append(client.scatter(weights[part].astype(np.float32), workers=where, hash=False))
        self.X = da.concatenate([da.from_delayed(f, shape=s, dtype=np.float32) for f, s in x_parts])
        sizes = [s[0] for _f, s in x_parts]
        self.y = da.concatenate([da.from_delayed(f, shape=(n,), dtype=np.int8) for f, n in zip(y_parts, sizes)])
        self.weights = None if weights is None else da.concatenate(
            [da.from_delayed(f, shape=(n,), dtype=np.float32) for f, n in zip(w_parts, sizes)])

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
    params = config.booster
    # No nthread: xgboost.dask gives each worker its own thread count.
    xgb_params = {k: v for k, v in params.xgb_params(dataset.backend.xgb_device, 1, config.seed).items()
                  if k != "nthread"}
    boosters, curves = [], {}
    for k, label in enumerate(LABELS):
        dtrain = dxgb.DaskQuantileDMatrix(client, train.X, train.label(k), weight=train.weights,
                                          max_bin=params.max_bin)
        dval = dxgb.DaskQuantileDMatrix(client, val.X, val.label(k), weight=val.weights, ref=dtrain,
                                        max_bin=params.max_bin)
        out = dxgb.train(client, xgb_params, dtrain, num_boost_round=params.n_estimators,
                         evals=[(dtrain, "train"), (dval, "validation")],
                         early_stopping_rounds=params.early_stopping_rounds, verbose_eval=False)
        best = int(out["booster"].best_iteration)
        boosters.append(out["booster"][: best + 1])
        curves[label] = {**out["history"], "best_iteration": best}
        for _ in range(params.n_estimators if on_round is not None else 0):
            on_round()
    return MetaModel(boosters=boosters, feature_names=list(features), logit_features=list(logit_features),
                     evals_result=curves, backend=dataset.backend,
                     params={"strategy": "distributed", "n_workers": workers, "n_partitions": len(train.slices)})
