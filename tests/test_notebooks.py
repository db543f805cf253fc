"""The notebooks run: the quick start on CPU, the sweep reader on a real sweep, and the GPU notebook stops at
its first cell without a GPU.

Each notebook runs in its own temporary directory (its outputs go there), with this checkout's gpumeta.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


@pytest.fixture
def notebook_client(tmp_path, monkeypatch):
    """name -> (an nbclient client that runs the notebook in tmp_path or `cwd`, the notebook it fills in)."""
    # The kernel is a separate process: it finds this checkout's gpumeta through PYTHONPATH.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(NOTEBOOKS.parent),
                                                                   os.environ.get("PYTHONPATH")])))
    # One OpenMP thread: on a busy 2-core CI machine xgboost's spinning threads made the quick start's
    # training 100x slower (measured: 301 s with 2 threads against 1-3 s with one).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    def client_for(name: str, cwd: Path = tmp_path):
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        return nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                       resources={"metadata": {"path": str(cwd)}}), notebook

    return client_for


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebooks_are_stored_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_quickstart_runs_on_cpu(tmp_path, notebook_client):
    client, notebook = notebook_client("01_quickstart.ipynb")
    client.execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "held-out macro F1: base" in text and "rows sum to 1: True" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # figures inline
    assert (tmp_path / "quickstart-run" / "run" / "report.html").is_file()


def test_gpu_notebook_stops_at_its_first_cell_without_a_gpu(notebook_client):
    from gpumeta.backend import get_backend

    if get_backend("auto").name == "cuda":
        pytest.skip("a GPU is here: test_gpu_notebook_runs executes the notebook")
    client, notebook = notebook_client("02_gpu.ipynb")
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="needs a CUDA GPU with RAPIDS"):
        client.execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].execution_count == 1 and all(c.execution_count is None for c in code[1:])


@pytest.mark.gpu
def test_gpu_notebook_runs(notebook_client):
    client, notebook = notebook_client("02_gpu.ipynb")
    client.execute()
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "backend: cuda" in text and "rows sum to 1: True" in text


def test_sweep_results_notebook_reads_a_real_sweep(tmp_path, notebook_client):
    import yaml

    from gpumeta.sweep import run_sweep
    from gpumeta.synth import synth_dataset

    dataset = synth_dataset(tmp_path / "runs" / "sweep-data", n_genes=16, rows_per_gene=50, seed=1)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "datasets": {"tiny": str(dataset)}, "params": {"depth2": {"booster": {"max_depth": 2}}, "depth4": {}},
        "seeds": [0], "train": {"n_folds": 2, "skip_shap": True, "minimal_diagnostics": True,
                                "booster": {"n_estimators": 10, "early_stopping_rounds": 5}}}))
    run_sweep(spec, tmp_path / "runs" / "sweep", n_workers=1, quiet=True)
    (tmp_path / "notebooks").mkdir()
    client, notebook = notebook_client("03_sweep_results.ipynb", tmp_path / "notebooks")
    client.execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert "2 cells: 2 complete, 0 failed" in "".join(o.get("text", "") for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)
