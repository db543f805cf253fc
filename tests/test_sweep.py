"""`gpumeta sweep`: spec checks, a grid on a real 2-worker LocalCluster, kill and resume, retries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gpumeta.cli import main
from gpumeta.errors import GpumetaError
from gpumeta.sweep import load_spec, read_results, run_sweep
from gpumeta.sweep.spec import Cell

#: The algorithm axis under test. Adding a second algorithm is one entry here, e.g. "lightgbm", once
#: training takes the `algorithm` config key (issue 12): the grid below grows by that many cells.
ALGORITHMS = ["xgboost", "logistic_regression"]
#: Cells of the grid below: algorithms x 2 parameter sets x 2 seeds.
N_CELLS = len(ALGORITHMS) * 2 * 2
#: Quick training for every cell: tiny boosters, 2 folds, no SHAP, essentials of the diagnostics only.
QUICK = {"n_folds": 2, "skip_shap": True, "minimal_diagnostics": True,
         "booster": {"n_estimators": 15, "early_stopping_rounds": 5}}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from gpumeta.synth import synth_dataset

    return synth_dataset(tmp_path_factory.mktemp("sweep") / "tiny", n_genes=24, rows_per_gene=60, seed=3,
                         genes_per_batch=12)


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client

    from gpumeta.backend import get_backend

    with get_backend("cpu").local_cluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as c:
        yield c


def write_spec(path: Path, dataset: Path, **changes) -> Path:
    spec = {"datasets": {"tiny": str(dataset)}, "algorithms": ALGORITHMS,
            "params": {"shallow": {"booster": {"max_depth": 3}}, "deep": {"booster": {"max_depth": 6}}},
            "seeds": [0, 1], "devices": ["cpu"], "train": QUICK, "retries": 1, **changes}
    path.write_text(yaml.safe_dump({k: v for k, v in spec.items() if v is not None}))
    return path


def cell_files(out: Path) -> dict[str, int]:
    """Finished cells -> mtime (ns) of their cell.json."""
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*/cell.json")}


def attempts(out: Path, cell_id: str) -> list[dict]:
    return json.loads((out / "attempts" / f"{cell_id}.json").read_text())["attempts"]


@pytest.mark.parametrize("changes, message", [
    ({"sweeps": 3}, "unknown key(s) 'sweeps'"),
    ({"seeds": []}, "'seeds' is empty"),
    ({"params": {}}, "'params' is empty"),
    ({"datasets": {"gone": "no/such/dir"}}, "dataset 'gone'"),
    ({"devices": ["gpu"]}, "device(s) 'gpu' are not sweep devices"),
    ({"devices": ["auto"]}, "not 'auto'"),
    ({"algorithms": ["xgboost", "svm"]}, "algorithm 'svm' is unknown"),
    ({"seeds": [1, 1]}, "'seeds' repeats 1"),
    ({"params": {"p": {"seed": 3}}}, "the 'seeds' axis sets"),
    ({"params": {"p": {"booster": {"depth": 3}}}}, "parameter set 'p' with algorithm 'xgboost'"),
    ({"retries": -1}, "'retries' is -1"),
])
def test_bad_spec_is_one_line_exit_2_and_writes_nothing(tmp_path, dataset, capsys, changes, message):
    spec = write_spec(tmp_path / "spec.yaml", dataset, **changes)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out-dir", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err
    assert not out.exists()


def test_cuda_cells_without_a_gpu_are_refused_before_anything_is_written(tmp_path, dataset):
    from gpumeta.backend import get_backend

    if get_backend("auto").name == "cuda":
        pytest.skip("a GPU is here")
    out = tmp_path / "out"
    with pytest.raises(GpumetaError, match="--device cuda needs a GPU"):
        run_sweep(write_spec(tmp_path / "spec.yaml", dataset, devices=["cpu", "cuda"]), out, quiet=True)
    assert not out.exists()


def test_cell_ids_are_stable_and_each_cell_its_own(tmp_path, dataset):
    spec = write_spec(tmp_path / "spec.yaml", dataset)
    first, again = load_spec(spec), load_spec(spec)
    assert [c.id for c in first.cells] == [c.id for c in again.cells]
    assert len({c.id for c in first.cells}) == len(first.cells) == N_CELLS
    assert first.cells[0].train_config().booster.n_estimators == QUICK["booster"]["n_estimators"]


def test_algorithm_axis_becomes_a_config_override_except_the_default():
    def cell(algorithm, params):
        return Cell("d", "/d", algorithm, params, "p", {"n_folds": 2}, 7, "cpu")

    assert cell("xgboost", {}).config_overrides() == {"n_folds": 2, "seed": 7}
    assert cell("lightgbm", {"num_leaves": 15}).config_overrides() == {
        "n_folds": 2, "algorithm": "lightgbm", "algorithm_params": {"num_leaves": 15}, "seed": 7}
    assert cell("xgboost", {}).id != cell("lightgbm", {}).id


def test_sweep_killed_mid_way_resumes_without_redoing_finished_cells(tmp_path, dataset, client):
    spec = write_spec(tmp_path / "spec.yaml", dataset)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get(
        "PYTHONPATH", "")])}
    run = subprocess.Popen([sys.executable, "-m", "gpumeta", "sweep", str(spec), "--out-dir", str(out),
                            "--n-workers", "2", "--quiet"], env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not cell_files(out) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGKILL)  # the sweep and its cluster: the session it was started in
    run.wait()
    before = cell_files(out)
    assert 1 <= len(before) < N_CELLS, run.stderr.read().decode()[-2000:]

    result = run_sweep(spec, out, resume=True, quiet=True, client=client)

    assert sorted(result.skipped) == sorted(before)
    assert len(result.ran) == N_CELLS - len(before) and not result.failed
    after = cell_files(out)
    assert {c: after[c] for c in before} == before          # finished cells untouched
    assert all(len(attempts(out, c)) == 1 for c in before)  # and run once
    for cell_id in result.ran:
        statuses = [a["status"] for a in attempts(out, cell_id)]
        assert statuses[-1] == "complete" and set(statuses[:-1]) <= {"interrupted"}
    table = read_results(out)
    assert len(table) == N_CELLS and (table["status"] == "complete").all()
    assert table["macro_f1_meta"].between(0, 1).all()
    # A cell that fitted in its finishing attempt has its fit seconds; one that only reused the killed
    # attempt's folds says it resumed.
    assert ((table["fit_s"] > 0) | table["resumed"]).all() and (table["fit_s"] > 0).any()
    assert set(table["seed"]) == {0, 1} and set(table["params"]) == {"shallow", "deep"}
    assert list(pd.read_csv(out / "results.csv")["cell_id"]) == list(table["cell_id"])
    assert (out / "comparison.png").stat().st_size > 0 and "Every cell" in (out / "report.html").read_text()
    for cell_id in table["cell_id"]:  # each cell a normal run directory
        assert json.loads((out / "cells" / cell_id / "run_info.json").read_text())["status"] == "complete"


def test_failing_cell_is_retried_then_reported_with_its_error(tmp_path, dataset, client):
    # 30 folds cannot split 24 genes: the config is valid, the cell fails when it meets the data.
    spec = write_spec(tmp_path / "spec.yaml", dataset, seeds=[0], algorithms=["xgboost"],
                      params={"ok": {}, "too_many_folds": {"n_folds": 30}}, retries=2)
    out = tmp_path / "out"

    result = run_sweep(spec, out, quiet=True, client=client)

    table = read_results(out).set_index("params")
    assert table.loc["ok", "status"] == "complete" and table.loc["ok", "attempts"] == 1
    bad = table.loc["too_many_folds"]
    assert bad["status"] == "failed" and bad["attempts"] == 3 and "30-fold CV" in bad["error"]
    assert "\n" not in bad["error"] and result.failed == [bad["cell_id"]]
    assert "Failed cells" in (out / "report.html").read_text()

    again = run_sweep(spec, out, resume=True, quiet=True, client=client)  # failed cells run again
    assert again.ran == [] and again.failed == [bad["cell_id"]] and len(attempts(out, bad["cell_id"])) == 6
