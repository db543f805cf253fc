"""The multi-instance strategy: an ensemble of models, each trained on a share of the training genes.

Training genes (whole overlap groups) are dealt into instances small enough that one instance's training
matrix fits a fraction of one worker's memory (or `genes_per_instance` of them; `instance_overlap` lends
each instance that share of its neighbour's genes). Every training gene is in at least one instance; every
instance uses the same global feature list. Each instance carves its own validation genes from its genes
for early stopping, and all instances train in parallel on the dask cluster (sequentially in this process
without one), each task returning its model's files (each learner's own safe format) as bytes, so no Python
object is pickled into a model.

Data: a task receives only gene lists and reads its instance's rows (and the validation rows it is weighed
on) from the dataset's Parquet files on its worker, straight onto that worker's device. Neither this process
nor any one GPU ever holds the whole matrix, so the strategy runs where the data does not fit one device
(the dataset may be loaded with ``with_matrix=False``); workers of a multi-machine cluster need the dataset
path on a shared file system. `train_rows` and `val_rows` must be whole genes (as `MetaDataset.rows_of`
gives), and `weights`, when given, the dataset's inclusion weights, which each task reads with the rows.

Instance weight = validation skill: the mean over the three classes of ``1 - logloss / logloss_prior`` on the
fit's validation rows (genes no instance trained on), where ``logloss_prior`` is that of always predicting
the class frequency; floored at `MIN_WEIGHT`. It is a scale-free "how much better than knowing nothing", so
instances compare fairly whatever their class balance.

Fault handling: each task is resubmitted `RETRIES` times with its data shipped again (a worker that dies
mid-instance takes the instance's scattered data with it, so dask's own `retries=` could not rerun it); an
instance that still fails stops the run with an error naming it, after the other instances finish.
Finished instances are kept under `cache_dir` keyed by their genes and parameters, and a rerun
(`--resume`) reuses them.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backend import device_errors, get_backend
from ..cluster import worker_memory_budget
from ..dataset import load_dataset
from ..errors import GpumetaError
from ..model import EnsembleModel, MetaModel, boost_from_base_features, load_model
from ..schema import LABELS
from .config import TrainConfig
from .fit import fit_one_vs_rest, learner_of, trained_on, training_matrix_bytes
from .splits import GeneSplitter, gene_groups

#: Share of one worker's memory an instance's training matrix may fill (xgboost needs room beside it).
INSTANCE_MEMORY_FRACTION = 0.25
RETRIES = 2
MIN_WEIGHT = 1e-3
_EPS = 1e-7


def plan_instances(genes, rows_per_gene: dict[str, int], groups: dict[str, int], genes_per_instance: int,
                   overlap: float = 0.0, seed: int = 0) -> list[list[str]]:
    """Gene lists of the instances: groups kept whole, sizes balanced, `overlap` of each instance's genes
    lent from the next instance; every gene is in at least one instance."""
    genes = sorted(set(genes))
    if genes_per_instance < 2:
        raise GpumetaError(f"genes_per_instance is {genes_per_instance}: an instance needs at least 2 genes "
                           "(one to train on, one to early-stop on)")
    if not 0 <= overlap < 1:
        raise GpumetaError(f"instance_overlap is {overlap}: give a fraction in [0, 1)")
    n_instances = max(1, math.ceil(len(genes) / genes_per_instance))
    cores: list[list[str]] = [[] for _ in range(n_instances)]
    load = np.zeros(n_instances)
    for members in GeneSplitter(groups, seed).shuffled_groups(genes, salt=7):
        k = int(load.argmin())
        cores[k].extend(members)
        load[k] += sum(rows_per_gene.get(g, 1) for g in members)
    plan = []
    for i, core in enumerate(cores):
        neighbour = cores[(i + 1) % n_instances] if n_instances > 1 else []
        lent = neighbour[:round(overlap * len(core))]
        plan.append(sorted(set(core) | set(lent)))
    covered = set().union(*map(set, plan))
    assert covered == set(genes), f"instances miss {len(set(genes) - covered)} training gene(s)"
    return plan


def auto_genes_per_instance(rows_per_gene: dict[str, int], n_features: int, max_bin: int, budget: int) -> int:
    """Genes whose training matrix fills `INSTANCE_MEMORY_FRACTION` of `budget` bytes (at least 2)."""
    mean_rows = float(np.mean(list(rows_per_gene.values()))) if rows_per_gene else 1.0
    per_gene = training_matrix_bytes(math.ceil(mean_rows), n_features, max_bin)
    return max(2, int(budget * INSTANCE_MEMORY_FRACTION // per_gene))


@dataclass
class InstanceTask:
    """What one instance's task needs: where the data is and which genes are whose (a few KB to ship)."""

    path: Path
    features: list[str]
    fit_genes: list[str]
    stop_genes: list[str]
    score_genes: list[str]    # the fit's validation genes, on which every instance is weighed
    weighted: bool


def validation_skill(margins: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> float:
    """Mean over classes of 1 - logloss / logloss of the class-frequency predictor (see module docstring)."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    skills = []
    for k in range(len(LABELS)):
        target = (y == k).astype(np.float64)
        p = np.clip(1.0 / (1.0 + np.exp(-margins[:, k])), _EPS, 1 - _EPS)
        prior = np.clip(np.average(target, weights=w), _EPS, 1 - _EPS)
        loss = -np.average(target * np.log(p) + (1 - target) * np.log1p(-p), weights=w)
        prior_loss = -np.average(target * np.log(prior) + (1 - target) * np.log1p(-prior), weights=w)
        skills.append(1.0 - loss / prior_loss if prior_loss > 0 else 0.0)
    return float(max(MIN_WEIGHT, np.mean(skills)))


def _worker_threads() -> int | None:
    """Threads of the dask worker running this task (None outside a worker): several workers share a
    machine, and each xgboost must keep to its worker's share of the cores."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def fit_instance(device: str, task: InstanceTask, logit_features: list[str], config: TrainConfig) -> dict:
    """One instance's three models (runs on a worker, reading its rows from Parquet onto its device): the
    model directory's files as bytes ({name: bytes}), validation skill, device."""
    backend = get_backend(device)
    features = task.features
    learner = learner_of(config)
    with device_errors(f"training an instance of {len(task.fit_genes) + len(task.stop_genes)} genes"):
        part = load_dataset(task.path, backend, features=features, genes=[*task.fit_genes, *task.stop_genes])
        classes = config.booster.boost_from_base_classes()
        base = boost_from_base_features(features, classes)
        models = fit_one_vs_rest(learner, backend, part.X, part.y, part.rows_of(task.fit_genes),
                                 part.rows_of(task.stop_genes), [features.index(f) for f in logit_features],
                                 seed=config.seed, rounds=config.booster.rounds,
                                 weights=part.weights if task.weighted else None, nthread=_worker_threads(),
                                 base_margin_idx=[features.index(f) for f in base], base_margin_classes=classes)
        del part
        score = load_dataset(task.path, backend, features=features, genes=task.score_genes)
        model = MetaModel(learners=models, feature_names=features, logit_features=logit_features,
                          algorithm=learner.name, algorithm_params=learner.get_params(), backend=backend,
                          base_margin_features=base, base_margin_classes=classes)
        skill = validation_skill(model.margins(score.X), score.y, score.weights if task.weighted else None)
    with tempfile.TemporaryDirectory() as tmp:
        model.write_into(Path(tmp))
        files = {path.name: path.read_bytes() for path in Path(tmp).iterdir()}
    return {"files": files, "skill": skill, "device": trained_on(learner, backend, models)}


def _from_result(result: dict, backend, genes, key: str) -> MetaModel:
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in result["files"].items():
            (Path(tmp) / name).write_bytes(data)
        model = load_model(tmp, backend)  # every learner reads its files whole: the directory may go
    model.training_genes = list(genes)
    model.params = {"strategy": "multi-instance", "cache_key": key, "validation_skill": result["skill"],
                    "trained_on": result["device"]}
    return model


def _cache_key(genes, stop_genes, score_rows: np.ndarray, features, logit_features, config: TrainConfig,
               weighted: bool) -> str:
    spec = {"genes": list(genes), "stop": list(stop_genes), "score_rows": hashlib.sha256(score_rows.tobytes())
            .hexdigest(), "features": list(features), "logit": list(logit_features),
            "booster": config.to_dict()["booster"], "algorithm": config.algorithm,
            "algorithm_params": config.algorithm_params, "seed": config.seed, "weighted": weighted}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _cached(directory: Path | None, key: str, backend) -> MetaModel | None:
    if directory is None or not (directory / "manifest.json").is_file():
        return None
    model = load_model(directory, backend)
    return model if model.params.get("cache_key") == key else None


def fit_multi_instance(dataset, train_rows: np.ndarray, val_rows: np.ndarray, features: list[str],
                       logit_features: list[str], config: TrainConfig, weights: np.ndarray | None = None,
                       on_round=None, client=None, cache_dir: Path | None = None) -> EnsembleModel:
    """An ensemble of instances over the genes of `train_rows`, weighed on `val_rows` (see module docstring)."""
    backend = dataset.backend
    counts = np.bincount(dataset.gene_codes[train_rows], minlength=len(dataset.gene_names))
    present = np.flatnonzero(counts)
    rows_per_gene = dict(zip(dataset.gene_names[present].tolist(), counts[present].tolist()))
    genes = sorted(rows_per_gene)
    score_genes = dataset.gene_names[np.unique(dataset.gene_codes[val_rows])].tolist()
    groups = gene_groups(np.asarray(genes, dtype=object), dataset.gene_coordinates())
    genes_per_instance = config.genes_per_instance or auto_genes_per_instance(
        rows_per_gene, len(features), config.booster.max_bin, worker_memory_budget(client, backend))
    plan = plan_instances(genes, rows_per_gene, groups, genes_per_instance,
                          config.instance_overlap, config.seed)
    splitter = GeneSplitter(groups, config.seed)
    ticks_per_instance = learner_of(config).max_rounds() * len(LABELS) // len(plan)
    models: dict[int, MetaModel] = {}
    pending: dict[int, tuple[InstanceTask, str, list[str]]] = {}
    for i, instance_genes in enumerate(plan):
        fit_genes, stop_genes = splitter.holdout(instance_genes, config.validation_fraction, salt=1000 + i)
        key = _cache_key(instance_genes, stop_genes, val_rows, features, logit_features, config, weights is not None)
        cached = _cached(None if cache_dir is None else cache_dir / f"instance_{i:03d}", key, backend)
        if cached is not None:
            models[i] = cached
            continue
        pending[i] = (InstanceTask(dataset.path, list(features), list(fit_genes), list(stop_genes), score_genes,
                                   weights is not None), key, instance_genes)

    def finish(i: int, result: dict) -> None:
        _data, key, instance_genes = pending[i]
        models[i] = _from_result(result, backend, instance_genes, key)
        if cache_dir is not None:
            models[i].save(cache_dir / f"instance_{i:03d}")
        for _ in range(ticks_per_instance if on_round is not None else 0):
            on_round()

    args = (logit_features, config)
    failed: dict[int, str] = {}
    if client is None:
        for i, (task, _key, _genes) in pending.items():
            try:
                finish(i, fit_instance(backend.name, task, *args))
            except Exception as exc:
                if not config.allow_partial_ensemble:
                    raise
                failed[i] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if failed and not models:
            raise GpumetaError(f"every instance of the ensemble failed (instance {min(failed)}: "
                               f"{failed[min(failed)]}); a partial ensemble needs at least one")
    else:
        failed = _run_on_cluster(client, backend.name, pending, args, finish, len(plan), cache_dir,
                                 config.allow_partial_ensemble)
    instances = [models[i] for i in sorted(models)]
    params = {"strategy": "multi-instance", "genes_per_instance": int(genes_per_instance), "n_instances": len(plan)}
    if failed:  # --allow-partial-ensemble: the caller warns loudly (gpumeta.train.workflow)
        kept = {g for m in instances for g in m.training_genes}
        params["failed_instances"] = {str(i): why for i, why in sorted(failed.items())}
        params["genes_lost"] = len({g for i in failed for g in plan[i]} - kept)
    return EnsembleModel(instances=instances, weights=[m.params["validation_skill"] for m in instances],
                         params=params)


def _run_on_cluster(client, device: str, pending: dict, args: tuple, finish, n_instances: int,
                    cache_dir: Path | None, allow_partial: bool = False) -> dict[int, str]:
    """Submit every pending instance at once and finish each as it completes.

    A failed attempt (an error, or a worker that died mid-instance) is resubmitted, up to `RETRIES` times;
    then the first instance that still fails is named, unless `allow_partial` and some instance finished:
    then {instance: why} of the failed ones is returned.
    """
    from dask.distributed import as_completed

    attempts = dict.fromkeys(pending, 0)

    def submit(i: int):
        task, key, _genes = pending[i]
        attempts[i] += 1
        return client.submit(fit_instance, device, task, *args, pure=False,
                             key=f"gpumeta-instance-{i:03d}-{key}-{attempts[i]}")

    futures = {submit(i): i for i in pending}
    failed: dict[int, BaseException] = {}
    queue = as_completed(list(futures))
    for future in queue:
        i = futures.pop(future)
        if future.status == "finished":
            finish(i, future.result())
        elif attempts[i] <= RETRIES:
            retry = submit(i)
            futures[retry] = i
            queue.add(retry)
        else:
            failed[i] = future.exception()
        future.release()
    if failed and allow_partial and len(failed) < n_instances:
        return {i: f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                for i, exc in failed.items()}
    if failed:
        i = min(failed)
        exc = failed[i]
        kept = f"the {n_instances - len(failed)} finished instance(s) are kept in {cache_dir}; fix the cause and " \
               "rerun with --resume" if cache_dir is not None else "nothing was kept (no cache directory)"
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise GpumetaError(f"instance {i} of {n_instances} failed after {RETRIES} retries "
                           f"({type(exc).__name__}: {first_line}); {len(failed)} instance(s) failed in all; {kept}"
                           "; --allow-partial-ensemble finishes without them")
    return {}
