"""Scale-out strategies on a real dask LocalCluster (processes, 2 workers, 1 thread each), CPU only.

Each strategy trains through the real workflow; the saved model then predicts in a fresh process
(`gpumeta predict`) with the probabilities it gives here.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from datasets import make_dataset

from gpumeta import cluster as cluster_module
from gpumeta.backend import get_backend
from gpumeta.cluster import get_client, n_workers_of
from gpumeta.dataset import dataset_shape, load_dataset
from gpumeta.errors import GpumetaError
from gpumeta.model import EnsembleModel, MetaModel
from gpumeta.schema import LABELS
from gpumeta.train import instances, train
from gpumeta.train.config import load_config
from gpumeta.train.distributed import gene_partitions
from gpumeta.train.instances import fit_multi_instance, plan_instances
from gpumeta.train.strategies import plan_strategy

CPU = get_backend("cpu")
QUICK = {"n_folds": 2, "booster": {"n_estimators": 20, "early_stopping_rounds": 5}, "skip_shap": True,
         "minimal_diagnostics": True}


def _config(strategy: str, **extra):
    return load_config(None, {**QUICK, "strategy": strategy, **extra})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("scale") / "ds", n_genes=32, rows_per_gene=80)


@pytest.fixture(scope="module")
def client():
    with get_client(CPU, "local", n_workers=2, quiet=True) as dask_client:
        yield dask_client


def _predict_in_fresh_process(model_dir: Path, dataset: Path, out: Path) -> np.ndarray:
    done = subprocess.run([sys.executable, "-m", "gpumeta", "predict", "--model", str(model_dir),
                           "--dataset", str(dataset), "--out", str(out), "--device", "cpu"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return pd.read_parquet(out)[[f"prob_{label}" for label in LABELS]].to_numpy(np.float64)


def _assert_reloads_identically(result, dataset: Path, tmp_path: Path) -> None:
    here = result.model.predict_proba(result.model.matrix(load_dataset(dataset, CPU)))
    there = _predict_in_fresh_process(result.run_dir / "model", dataset, tmp_path / "pred.parquet")
    # predict writes float32 probabilities
    np.testing.assert_allclose(there, here.astype(np.float32), atol=1e-6)


# ---- planning ---------------------------------------------------------------------------------------------
def test_instances_cover_every_gene_keep_groups_whole_and_overlap():
    genes = [f"g{i:02d}" for i in range(23)]
    groups = {g: i for i, g in enumerate(genes)}
    groups["g01"] = groups["g00"]  # an overlapping pair travels together
    plan = plan_instances(genes, dict.fromkeys(genes, 100), groups, genes_per_instance=6, overlap=0.0, seed=3)
    assert len(plan) == 4
    assert sorted(g for p in plan for g in p) == genes  # a partition: every gene exactly once
    assert any({"g00", "g01"} <= set(p) for p in plan)
    lent = plan_instances(genes, dict.fromkeys(genes, 100), groups, genes_per_instance=6, overlap=0.5, seed=3)
    assert set().union(*map(set, lent)) == set(genes)
    assert sum(map(len, lent)) > len(genes)  # overlapping instances share genes
    with pytest.raises(GpumetaError, match="genes_per_instance"):
        plan_instances(genes, {}, groups, genes_per_instance=1)
    with pytest.raises(GpumetaError, match="instance_overlap"):
        plan_instances(genes, {}, groups, genes_per_instance=4, overlap=1.0)


def test_partitions_cut_only_at_gene_boundaries():
    gene_ids = np.repeat(np.array(["a", "b", "c", "d", "e"], dtype=object), [5, 1, 7, 3, 4])
    slices = gene_partitions(gene_ids, 3)
    assert slices[0][0] == 0 and slices[-1][1] == len(gene_ids)
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(slices))
    for start, _end in slices:
        assert start == 0 or gene_ids[start] != gene_ids[start - 1]


def test_strategy_is_planned_from_the_parquet_footers_before_loading(data, client, monkeypatch):
    shape = dataset_shape(data)
    assert shape.n_rows == 32 * 80 and shape.n_features == len(load_dataset(data, CPU).feature_names)
    config = _config("auto")
    strategy, reason = plan_strategy("auto", shape, CPU, config, client)
    assert strategy == "single" and "fits" in reason
    monkeypatch.setattr(type(CPU), "memory_budget", lambda self: 1000)
    assert plan_strategy("auto", shape, CPU, config, client)[0] == "distributed"
    strategy, reason = plan_strategy("auto", shape, CPU, config)
    assert strategy == "multi-instance" and "no cluster" in reason
    with pytest.raises(GpumetaError, match="needs a dask cluster"):
        plan_strategy("distributed", shape, CPU, config)
    with pytest.raises(GpumetaError, match="unknown strategy"):
        plan_strategy("biggest", shape, CPU, config)


def test_multi_instance_needs_no_matrix_in_memory(data):
    full, lazy = load_dataset(data, CPU), load_dataset(data, CPU, with_matrix=False)
    assert lazy.X is None
    val_genes = list(full.genes[:5])
    train_rows, val_rows = full.rows_of(full.genes[5:]), full.rows_of(val_genes)
    config = _config("multi-instance", genes_per_instance=12)
    fits = [fit_multi_instance(d, train_rows, val_rows, full.feature_names, ["donor_score"], config)
            for d in (full, lazy)]
    X = lazy.matrix_of(val_genes)
    assert len(fits[1].instances) == 3
    np.testing.assert_allclose(fits[1].margins(X), fits[0].margins(X), atol=1e-6)


def test_a_multi_instance_driver_never_holds_the_matrix_and_matches_one_that_does(data, tmp_path, monkeypatch):
    """auto plans multi-instance from the footers (the matrix would not fit): no load holds the whole matrix,
    every read of features is a block of whole genes (several per step here), and every figure equals a
    run whose driver loaded the matrix (the path before planning), same seed."""
    from gpumeta import dataset as dataset_module
    from gpumeta.train import instances as instances_module
    from gpumeta.train import workflow

    n_rows = dataset_shape(data).n_rows
    config = _config("auto", genes_per_instance=12, skip_shap=False, shap_genes=5, minimal_diagnostics=False,
                     importance_rows=400, importance_features=3)
    monkeypatch.setattr(type(CPU), "memory_budget", lambda self: 1000)  # no device fits the matrix
    monkeypatch.setattr(dataset_module, "PARQUET_BLOCK_BYTES", 4 * 80 * 8 * 3)  # about 3 genes a block

    real_load = workflow.load_dataset
    with monkeypatch.context() as patch:
        patch.setattr(workflow, "load_dataset", lambda *a, **k: real_load(*a, **{**k, "with_matrix": True}))
        in_memory = train(data, tmp_path / "in_memory", device="cpu", quiet=True, config=config)

    reads: list[tuple[bool, int | None]] = []  # (read by genes, rows of the matrix it returned)

    def spy(module):
        real = module.load_dataset

        def load(*args, **kwargs):
            part = real(*args, **kwargs)
            reads.append((kwargs.get("genes") is not None, None if part.X is None else part.X.shape[0]))
            return part
        monkeypatch.setattr(module, "load_dataset", load)

    for module in (workflow, dataset_module, instances_module):
        spy(module)
    lazy = train(data, tmp_path / "lazy", device="cpu", quiet=True, config=config)

    assert reads[0] == (False, None)  # the driver's load: labels, genes, metadata, no matrix
    assert all(rows is None or (by_genes and rows < n_rows) for by_genes, rows in reads)
    assert sum(by_genes for by_genes, _ in reads) > 20  # blocks of genes for screening, margins, evaluation, SHAP
    info = json.loads((lazy.run_dir / "run_info.json").read_text())
    assert info["strategy"] == "multi-instance" and "exceeds" in info["strategy_reason"]
    assert info["matrix_in_memory"] is False and info["planned_from"]["n_rows"] == n_rows
    assert json.loads((in_memory.run_dir / "run_info.json").read_text())["strategy"] == "multi-instance"

    pd.testing.assert_frame_equal(lazy.cv_metrics, in_memory.cv_metrics)
    for name in ("feature_manifest.csv", "shap_importance.csv", "base_vs_meta_performance.tsv",
                 "feature_importance_analysis/permutation_importance.csv"):
        assert (lazy.run_dir / name).read_text() == (in_memory.run_dir / name).read_text(), name
    for fold in sorted((in_memory.run_dir / "folds").glob("fold_*")):
        np.testing.assert_array_equal(np.load(lazy.run_dir / "folds" / fold.name / "margins.npy"),
                                      np.load(fold / "margins.npy"))
    for key in ("rows", "calibration", "statistics", "gene_changes"):
        assert lazy.evaluation[key] == in_memory.evaluation[key], key
    assert lazy.model.thresholds == in_memory.model.thresholds
    assert info["final_vs_cv"] == json.loads((in_memory.run_dir / "run_info.json").read_text())["final_vs_cv"]


# ---- cluster ------------------------------------------------------------------------------------------------
def test_get_client_errors_name_what_to_do(monkeypatch):
    with pytest.raises(GpumetaError, match="not both"), get_client(CPU, "local", "tcp://127.0.0.1:1"):
        pass
    with pytest.raises(GpumetaError, match="'local'"), get_client(CPU, "slurm"):
        pass
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 1)
    with (pytest.raises(GpumetaError, match=r"cannot reach the dask scheduler at tcp://127\.0\.0\.1:9"),
          get_client(CPU, scheduler_address="tcp://127.0.0.1:9")):
        pass
    with get_client(CPU) as nothing:
        assert nothing is None


# ---- strategies end to end ---------------------------------------------------------------------------------
def test_multi_instance_ensemble_trains_on_the_cluster_and_reloads(data, client, tmp_path):
    result = train(data, tmp_path / "run", device="cpu", quiet=True, cluster=client,
                   config=_config("multi-instance", genes_per_instance=8, instance_overlap=0.25))
    model = result.model
    assert isinstance(model, EnsembleModel) and len(model.instances) == math.ceil(
        len(result.splits["final"]["train"]) / 8) > 1
    assert all(w > 0 for w in model.weights)
    assert set(model.training_genes) == set(result.splits["final"]["train"])
    assert {tuple(m.feature_names) for m in model.instances} == {tuple(model.feature_names)}
    assert result.evaluation[result.evaluation["headline"]]["macro_f1"]["meta"] > 0.8
    assert (result.run_dir / "instances_cache" / "fold_1" / "instance_000" / "manifest.json").is_file()
    _assert_reloads_identically(result, data, tmp_path)


def test_distributed_cli_trains_one_model_and_reloads(data, client, tmp_path):
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "gpumeta", "train", "--dataset", str(data), "--out-dir",
                           str(run), "--device", "cpu", "--strategy", "distributed", "--scheduler-address",
                           client.scheduler.address, "--n-folds", "2", "--skip-shap", "--minimal-diagnostics",
                           "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from gpumeta.model import load_model
    from gpumeta.train.workflow import TrainResult

    model = load_model(run / "model", CPU)
    assert isinstance(model, MetaModel) and model.params["strategy"] == "distributed"
    assert model.algorithm == "xgboost" and all(m.booster.num_boosted_rounds() >= 1 for m in model.learners)
    _assert_reloads_identically(TrainResult(run, model, {}, pd.DataFrame(), {}), data, tmp_path)


def test_auto_picks_single_with_a_cluster_when_the_matrix_fits(data, client, tmp_path):
    # A single model's fresh-process reload is covered by test_train; here: the choice and its reason.
    result = train(data, tmp_path / "run", device="cpu", quiet=True, cluster=client, config=_config("auto"))
    assert isinstance(result.model, MetaModel) and result.model.params["strategy"] == "single"
    info = json.loads((result.run_dir / "run_info.json").read_text())
    assert info["strategy"] == "single" and "fits" in info["strategy_reason"]


# ---- fault handling ----------------------------------------------------------------------------------------
def _always_fails(device, data, *args):
    raise RuntimeError("worker lost")


# Workers cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_failed_instance_is_named_and_finished_ones_are_reused(data, client, tmp_path, monkeypatch):
    dataset = load_dataset(data, CPU)
    features = dataset.feature_names
    rows = np.arange(dataset.n_rows)
    genes = np.asarray(sorted(set(dataset.gene_ids)), dtype=object)
    val = np.isin(dataset.gene_ids, genes[:5])
    train_rows, val_rows = rows[~val], rows[val]
    config = _config("multi-instance", genes_per_instance=12)
    cache = tmp_path / "cache"
    first = fit_multi_instance(dataset, train_rows, val_rows, features, [], config, client=client, cache_dir=cache)
    assert len(first.instances) == 3
    kept = cache / "instance_000" / "manifest.json"
    stamp = kept.stat().st_mtime_ns
    (cache / "instance_001" / "manifest.json").unlink()

    monkeypatch.setattr(instances, "fit_instance", _always_fails)
    with pytest.raises(GpumetaError, match=r"instance 1 of 3 failed after 2 retries .*2 finished instance\(s\) "
                                           r"are kept"):
        fit_multi_instance(dataset, train_rows, val_rows, features, [], config, client=client, cache_dir=cache)
    monkeypatch.undo()

    again = fit_multi_instance(dataset, train_rows, val_rows, features, [], config, client=client, cache_dir=cache)
    assert kept.stat().st_mtime_ns == stamp  # reused, not refitted
    X = dataset.X[val_rows]
    np.testing.assert_allclose(again.margins(X), first.margins(X), atol=1e-6)
    assert n_workers_of(client) == 2
