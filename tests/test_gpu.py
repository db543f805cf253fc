"""The cuda path really runs on the GPU, and gives what the cpu path gives.

Skipped only on a machine that shows no GPU (tests/conftest.py). Where a GPU is visible these tests run
whatever the Python stack looks like, so a broken RAPIDS install (cuDF or RMM installed but not importing),
a missing CuPy, a CPU-only xgboost or a silent fallback to the CPU fails them (cuDF and RMM themselves are
optional: without them the same tests run on CuPy and xgboost alone): every fit is checked by the device its
boosters were configured for, not by whether it finished. Scenarios shared with the CPU suite live there,
parametrized over devices (test_backend.py, test_dataset.py); here are the ones only a GPU can check.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import FAST, make_dataset

from gpumeta.backend import booster_device, device_errors, get_backend
from gpumeta.errors import GpumetaError

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("gpu") / "ds", n_genes=30, rows_per_gene=100)


@pytest.fixture(scope="module")
def cuda():
    return get_backend("cuda")  # a GpumetaError naming the broken part of the stack fails every test


def _on_gpu(model) -> bool:
    models = getattr(model, "instances", [model])
    return all(booster_device(learner.booster).startswith("cuda") for m in models for learner in m.learners)


def test_the_gpu_stack_starts_and_auto_chooses_it(cuda):
    import cupy
    import xgboost as xgb

    assert get_backend("auto") is cuda and cuda.reason.startswith("cuda:")
    if cuda.uses_rmm:  # one RMM pool serves cuDF, CuPy and xgboost
        import rmm

        assert isinstance(rmm.mr.get_current_device_resource(), rmm.mr.PoolMemoryResource)
        assert xgb.get_config()["use_rmm"] is True
        assert cupy.cuda.get_allocator().__name__ == "rmm_cupy_allocator"
    else:  # CuPy's own pool, capped at the same share of the free memory
        assert "no RMM" in cuda.reason and cupy.get_default_memory_pool().get_limit() > 0
    free_now, _total = cupy.cuda.runtime.memGetInfo()
    assert cuda.memory_budget() > free_now  # read before the pool and any data took their share


def test_load_puts_the_matrix_on_the_device_with_the_same_values(cuda, dataset):
    import cupy

    from gpumeta.dataset import load_dataset

    gpu, cpu = load_dataset(dataset, cuda), load_dataset(dataset, "cpu")
    assert isinstance(gpu.X, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(gpu.X), cpu.X)


def test_cuda_training_evaluation_and_shap_run_on_the_gpu_and_match_cpu(cuda, dataset, tmp_path):
    from gpumeta.dataset import load_dataset
    from gpumeta.model import load_model
    from gpumeta.train import train

    full = {**FAST, "skip_shap": False, "minimal_diagnostics": False}
    runs = {"cpu": train(dataset, tmp_path / "cpu", device="cpu", quiet=True, **FAST),
            "cuda": train(dataset, tmp_path / "cuda", device="cuda", quiet=True, **full)}
    assert _on_gpu(runs["cuda"].model) and not _on_gpu(runs["cpu"].model)
    assert runs["cuda"].model.params["trained_on"].startswith("cuda")
    info = json.loads((runs["cuda"].run_dir / "run_info.json").read_text())
    assert info["device"] == "cuda"
    assert info["fold_concurrency"] == {"folds_at_once": 1, "reason": "one device fits one fold at a time"}
    f1 = {d: json.loads((r.run_dir / "meta_evaluation_summary.json").read_text())["rows"]["macro_f1"]["meta"]
          for d, r in runs.items()}
    assert abs(f1["cuda"] - f1["cpu"]) < 0.03
    # Evaluation, plots and SHAP ran on the cuda run.
    assert (runs["cuda"].run_dir / "shap_importance.csv").is_file()
    assert list(runs["cuda"].run_dir.rglob("*.png"))
    gpu_model = load_model(runs["cuda"].run_dir / "model", "cuda")
    cpu_model = load_model(runs["cuda"].run_dir / "model", "cpu")
    data_gpu = load_dataset(dataset, "cuda", features=gpu_model.feature_names)
    data_cpu = load_dataset(dataset, "cpu", features=cpu_model.feature_names)
    np.testing.assert_allclose(gpu_model.predict_proba(gpu_model.matrix(data_gpu)),
                               cpu_model.predict_proba(cpu_model.matrix(data_cpu)), atol=1e-5)
    contributions = gpu_model.contributions(gpu_model.matrix(data_gpu)[:500])
    np.testing.assert_allclose(contributions, cpu_model.contributions(cpu_model.matrix(data_cpu)[:500]), atol=1e-3)


@pytest.mark.parametrize("strategy", ["multi-instance", "distributed"])
def test_cluster_strategies_train_on_local_cuda_workers(cuda, dataset, tmp_path, strategy):
    from gpumeta.cluster import get_client
    from gpumeta.train import train

    with get_client(cuda, "local", quiet=True) as client:
        result = train(dataset, tmp_path / strategy, device="cuda", quiet=True, cluster=client,
                       **{**FAST, "strategy": strategy, "genes_per_instance": 8})
    models = getattr(result.model, "instances", [result.model])
    assert result.model.params["strategy"] == strategy
    assert all(m.params["trained_on"].startswith("cuda") for m in models)  # the workers' fits, on their GPUs


def test_more_cuda_workers_than_gpus_is_one_line(cuda):
    from gpumeta.cluster import get_client

    too_many = cuda.xp.cuda.runtime.getDeviceCount() + 1
    with pytest.raises(GpumetaError, match=rf"--n-workers {too_many}: this machine shows"), \
            get_client(cuda, "local", n_workers=too_many, quiet=True):
        pass


def test_device_out_of_memory_is_one_line_with_what_to_do(cuda):
    with pytest.raises(GpumetaError, match=r"^out of memory while allocating.*--genes-per-instance"), \
            device_errors("allocating a test matrix"):
        cuda.empty((1 << 40,), dtype=np.float32)  # 4 TiB: more than any pool
