"""The cuda backend gives what the cpu backend gives (skipped without a GPU and the RAPIDS stack)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import FAST, make_dataset

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("gpu") / "ds", n_genes=30, rows_per_gene=100)


def test_load_puts_the_matrix_on_the_device_with_the_same_values(dataset):
    import cupy

    from gpumeta.dataset import load_dataset

    gpu, cpu = load_dataset(dataset, "cuda"), load_dataset(dataset, "cpu")
    assert isinstance(gpu.X, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(gpu.X), cpu.X)


def test_cuda_training_matches_cpu_quality_and_reloads_on_either_device(dataset, tmp_path):
    from gpumeta.dataset import load_dataset
    from gpumeta.model import load_model
    from gpumeta.train import train

    runs = {d: train(dataset, tmp_path / d, device=d, quiet=True, **FAST) for d in ("cpu", "cuda")}
    f1 = {d: json.loads((r.run_dir / "meta_evaluation_summary.json").read_text())["rows"]["macro_f1"]["meta"]
          for d, r in runs.items()}
    assert abs(f1["cuda"] - f1["cpu"]) < 0.03
    gpu_model = load_model(runs["cuda"].run_dir / "model", "cuda")
    cpu_model = load_model(runs["cuda"].run_dir / "model", "cpu")
    data_gpu = load_dataset(dataset, "cuda", features=gpu_model.feature_names)
    data_cpu = load_dataset(dataset, "cpu", features=cpu_model.feature_names)
    np.testing.assert_allclose(gpu_model.predict_proba(gpu_model.matrix(data_gpu)),
                               cpu_model.predict_proba(cpu_model.matrix(data_cpu)), atol=1e-5)
    contributions = gpu_model.contributions(gpu_model.matrix(data_gpu)[:500])
    np.testing.assert_allclose(contributions, cpu_model.contributions(cpu_model.matrix(data_cpu)[:500]), atol=1e-3)
