"""How a model is fitted on a set of training rows, and which way is chosen.

`fit_model` is the one entry point the workflow calls for every fold and the final model; each strategy
returns an uncalibrated model with the same `.margins(X)`, so the workflow calibrates and evaluates every
strategy identically:

- ``single``: one matrix on one device (`fit_one_vs_rest`).
- ``multi-instance``: an ensemble of instances trained in parallel on a dask cluster (`instances.py`).
- ``distributed``: one model per class over all rows with `xgboost.dask` (`distributed.py`); the xgboost
  algorithm only.
- ``auto``: single when the training matrix fits a fraction of one device, else distributed when the
  algorithm is xgboost and the cluster has several workers, else multi-instance.

`plan_fold_concurrency` decides how many CV folds the single strategy fits side by side on cpu.

`plan_strategy` decides, once per run, from the Parquet footers (rows x feature columns) before anything is
loaded, so a run whose data does not fit the device loads no matrix (``load_dataset(..., with_matrix=False)``):
its multi-instance tasks read their own genes and the driver reads blocks of genes (`MetaDataset.blocks`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backend import Backend, device_errors
from ..cluster import n_workers_of
from ..dataset import DatasetShape
from ..errors import GpumetaError
from ..model import EnsembleModel, MetaModel, boost_from_base_features
from .config import TrainConfig
from .fit import fit_one_vs_rest, learner_of, quantised_matrix_bytes, trained_on, training_matrix_bytes

STRATEGIES = ("auto", "single", "multi-instance", "distributed")
#: The one algorithm xgboost.dask trains across workers.
DISTRIBUTED_ALGORITHM = "xgboost"
#: Share of one device's free memory the single strategy may fill: xgboost needs working room beside it.
SINGLE_MEMORY_FRACTION = 0.5
#: Share of the free host memory that CV folds fitted side by side may fill with their quantised matrices.
FOLDS_MEMORY_FRACTION = 0.5


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB"


def plan_strategy(requested: str, shape: DatasetShape, backend: Backend, config: TrainConfig, cluster=None,
                  train_share: float | None = None) -> tuple[str, str]:
    """(strategy, reason) from the dataset's size alone, before it is loaded.

    `train_share` is the share of rows the models train on (default: all but the held-out test genes);
    every feature column is counted, as screening has not run yet.
    """
    share = 1.0 - config.test_fraction if train_share is None else train_share
    return _choose(requested, shape.n_rows * share, shape.n_features, backend, config, cluster)


def _choose(requested: str, n_rows: float, n_features: int, backend: Backend, config: TrainConfig,
            cluster) -> tuple[str, str]:
    if requested not in STRATEGIES:
        raise GpumetaError(f"unknown strategy {requested!r}: use one of {', '.join(STRATEGIES)}")
    if requested == "distributed" and cluster is None:
        raise GpumetaError("--strategy distributed needs a dask cluster: add --cluster local or "
                           "--scheduler-address tcp://HOST:PORT")
    if requested == "distributed" and config.algorithm != DISTRIBUTED_ALGORITHM:
        raise GpumetaError(f"--strategy distributed trains with xgboost.dask, the {DISTRIBUTED_ALGORITHM} algorithm "
                           f"only; algorithm {config.algorithm!r} trains with --strategy single or multi-instance")
    if requested != "auto":
        return requested, "requested"
    need = training_matrix_bytes(n_rows, n_features, config.booster.max_bin)
    budget = backend.memory_budget() * SINGLE_MEMORY_FRACTION
    size = f"the training matrix (~{_gib(need)})"
    if need <= budget:
        return "single", f"{size} fits half of one device's free memory ({_gib(budget)})"
    workers = n_workers_of(cluster)
    if workers > 1 and config.algorithm == DISTRIBUTED_ALGORITHM:
        return "distributed", f"{size} exceeds half of one device's free memory ({_gib(budget)}); " \
                              f"the cluster has {workers} workers"
    why = "no cluster of 2+ workers is available" if config.algorithm == DISTRIBUTED_ALGORITHM else \
        f"{config.algorithm} has no distributed training"
    return "multi-instance", f"{size} exceeds half of one device's free memory ({_gib(budget)}) and {why}: an " \
                             "ensemble of instances that each fit"


def plan_fold_concurrency(requested: int | None, strategy: str, backend: Backend, n_folds: int, n_rows: int,
                          n_features: int, max_bin: int) -> tuple[int, str]:
    """(CV folds fitted at once, reason), for folds of at most `n_rows` training rows of `n_features`.

    On cpu the single strategy fits folds side by side in threads of this process, the cores shared out
    between them (`threads_each`): one fit does not keep its threads busy (xgboost's hist boosting keeps
    ~1.6 of 2 cores busy on 100 k rows: each round's serial steps leave a core idle), while single-thread
    fits never wait on each other. One fold more than cores: on 2 cores, the CV of scripts/bench_train.py
    takes 9.5 s one fold at a time on both cores, 7.9 s two at a time and 7.2 s three at a time on one
    thread each (7.3 s five at a time); the models are the same. Each fold holds its own quantised
    matrices, so no more run at once than fit `FOLDS_MEMORY_FRACTION` of the free memory. A GPU fits one
    fold at a time, and the other strategies spread their own work.
    """
    if backend.name != "cpu":
        return 1, "one device fits one fold at a time"
    if strategy != "single":
        return 1, f"the {strategy} strategy spreads its own work"
    cores = backend.n_threads
    if requested is not None:
        slots, why = min(requested, n_folds), f"parallel_folds {requested}"
    elif cores < 2:
        return 1, "one core"
    else:
        slots, why = min(n_folds, cores + 1), f"{cores} cores: one fold more than cores"
    room = int(backend.memory_budget() * FOLDS_MEMORY_FRACTION // max(1, quantised_matrix_bytes(
        n_rows, n_features, max_bin)))
    if slots > max(1, room):
        slots, why = max(1, room), f"{why}, cut to what fits {FOLDS_MEMORY_FRACTION:.0%} of the free memory"
    return slots, why


def threads_each(cores: int, fits: int) -> int:
    """Threads per fit when `fits` share `cores`: all of them shared out, rounded up."""
    return max(1, -(-cores // max(1, fits)))


def fit_model(strategy: str, dataset, train_rows: np.ndarray, val_rows: np.ndarray, features: list[str],
              logit_features: list[str], config: TrainConfig, weights: np.ndarray | None = None,
              on_round=None, cluster=None, cache_dir: Path | None = None,
              nthread: int | None = None) -> MetaModel | EnsembleModel:
    """An uncalibrated model fitted on `train_rows`, early-stopped on `val_rows` (rows of `dataset`).

    `cluster` (a dask Client) runs multi-instance and distributed work; `cache_dir` keeps finished instances
    of a multi-instance fit so a rerun reuses them. `nthread` bounds a single fit's threads (default: every
    core; CV folds fitted side by side share them out).
    """
    with device_errors(f"fitting a {strategy} model on {len(train_rows)} rows"):
        return _fit(strategy, dataset, train_rows, val_rows, features, logit_features, config, weights, on_round,
                    cluster, cache_dir, nthread)


def _fit(strategy, dataset, train_rows, val_rows, features, logit_features, config, weights, on_round, cluster,
         cache_dir, nthread):
    if strategy == "multi-instance":
        from .instances import fit_multi_instance

        return fit_multi_instance(dataset, train_rows, val_rows, features, logit_features, config, weights,
                                  on_round, cluster, cache_dir)
    if strategy == "distributed":
        from .distributed import fit_distributed

        if config.booster.boost_from_base_classes():
            raise GpumetaError("booster.boost_from_base is not available with --strategy distributed "
                               "(xgboost.dask): use --strategy single or multi-instance, or turn it off")

        return fit_distributed(dataset, train_rows, val_rows, features, logit_features, config, weights,
                               on_round, cluster)
    if strategy != "single":
        raise GpumetaError(f"strategy {strategy!r} is not available: use one of {', '.join(STRATEGIES[1:])}")
    if dataset.X is None:
        raise GpumetaError("the single strategy needs the matrix in memory: load the dataset with its matrix, or "
                           "use --strategy multi-instance")
    learner = learner_of(config)
    classes = config.booster.boost_from_base_classes()
    base = boost_from_base_features(features, classes)
    models = fit_one_vs_rest(learner, dataset.backend, dataset.X, dataset.y, train_rows, val_rows,
                             [features.index(f) for f in logit_features], seed=config.seed,
                             rounds=config.booster.rounds, weights=weights, on_round=on_round, nthread=nthread,
                             base_margin_idx=[features.index(f) for f in base], base_margin_classes=classes)
    return MetaModel(learners=models, feature_names=list(features), logit_features=list(logit_features),
                     algorithm=learner.name, algorithm_params=learner.get_params(), backend=dataset.backend,
                     base_margin_features=base, base_margin_classes=classes,
                     params={"strategy": "single", "trained_on": trained_on(learner, dataset.backend, models)})
