"""The original MetaSpliceAI trainer's documented commands run against gpumeta (issue 14).

Each command is one of the original's guides (COMPREHENSIVE_TRAINING_GUIDE.md and kin), its module path
replaced by `gpumeta train` and its paths by this test's; every flag is kept as written. `--config` adds
only speed settings (2 folds, shallow trees, small validation minimums) so the file stays under a minute.
"""

from __future__ import annotations

import json

import pytest
import yaml
from datasets import make_dataset
from typer.testing import CliRunner

from gpumeta.cli.app import app, main
from gpumeta.cli.train import FAST_SHAP_ROWS, original_flag_overrides
from gpumeta.errors import GpumetaError

#: The original guides' training commands, flags as written ({D}: dataset, {R}: run directory).
EXAMPLES = {
    "quick_start": "--dataset {D}/master --out-dir {R} --n-estimators 400 --calibrate-per-class "
                   "--auto-exclude-leaky --verbose",
    "production_complete_coverage": "--dataset {D}/master --out-dir {R} --train-all-genes --n-estimators 800 "
                                    "--calibrate-per-class --auto-exclude-leaky --monitor-overfitting "
                                    "--calibration-analysis --neigh-sample 2000 --early-stopping-patience 30 "
                                    "--verbose",
    "gene_cv_run1": "--dataset {D} --out-dir {R} --n-estimators 800 --row-cap 0 --calibrate-per-class "
                    "--auto-exclude-leaky --monitor-overfitting --calibration-analysis --neigh-sample 5000 "
                    "--early-stopping-patience 30 --verbose",
    "comparison_xgboost": "--dataset {D}/master --out-dir {R} --algorithm xgboost --n-estimators 400 "
                          "--sample-genes 200 --calibrate-per-class --verbose",
    "development_iterations": "--dataset {D}/master --out-dir {R} --sample-genes 200 --n-estimators 200 "
                              "--skip-shap --skip-feature-importance --minimal-diagnostics --fast-shap "
                              "--shap-sample 1000 --diag-sample 10000 --neigh-sample 500",
}

SPEED = {"n_folds": 2, "booster": {"max_depth": 2, "learning_rate": 0.5, "min_child_weight": 5.0},
         "min_validation_sites": 3, "min_validation_genes": 1, "shap_genes": 4, "importance_features": 5}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    make_dataset(root / "ds", n_genes=14, rows_per_gene=70, site_rate=0.1)
    (root / "speed.yaml").write_text(yaml.safe_dump(SPEED))
    return root


def _help() -> str:
    return CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_original_example_command_runs(name, dataset, capsys):
    command = EXAMPLES[name]
    if "--algorithm" in command and "--algorithm" not in _help():
        command = command.replace("--algorithm xgboost ", "")  # the multi-algorithm options land separately
    run = dataset / f"run_{name}"
    argv = ["train", *command.format(D=dataset / "ds", R=run).split(), "--config", str(dataset / "speed.yaml")]
    assert main(argv) == 0, capsys.readouterr().err
    info = json.loads((run / "run_info.json").read_text())
    assert info["status"] == "complete"
    config = yaml.safe_load((run / "config.yaml").read_text())
    if "--n-estimators" in command:
        assert config["booster"]["n_estimators"] == int(command.split("--n-estimators ")[1].split()[0])
    if "--early-stopping-patience" in command:
        assert config["booster"]["early_stopping_rounds"] == 30
    analysis = run / "feature_importance_analysis"
    if "--skip-feature-importance" in command:
        assert not analysis.exists() and config["skip_feature_importance"]
        assert config["max_shap_rows"] == 1000 and config["importance_rows"] == 10000
    elif name == "quick_start":  # the full analysis: importance folder and statistics in the summary
        for file in ("xgboost_importance.csv", "permutation_importance.csv", "mutual_information.csv",
                     "fold_stability.csv", "permutation_importance.png"):
            assert (analysis / file).is_file(), file
        text = (run / "training_summary.txt").read_text()
        assert "Statistics: is the difference more than noise?" in text
        assert "feature_importance_analysis/" in text
        assert "Statistics" in (run / "report.html").read_text()


def test_help_says_what_each_original_flag_does():
    text = _help()
    for flag in ("--n-estimators", "--calibrate-per-class", "--train-all-genes", "--verbose", "-v",
                 "--early-stopping-patience", "--monitor-overfitting", "--calibration-analysis", "--fast-shap",
                 "--shap-sample", "--skip-feature-importance", "--train-test-split", "--workflow-mode",
                 "--tree-method", "--neigh-sample", "--diag-sample", "--max-diag-sample"):
        assert flag in text, flag
    assert text.count("Always on") >= 4  # the analyses gpumeta always does say so


def _mapped(**given):
    base = {"n_estimators": None, "early_stopping_patience": None, "train_test_split": None, "shap_sample": None,
            "fast_shap": False, "diag_sample": None, "max_diag_sample": None, "calib_method": None,
            "tree_method": None, "row_cap": None, "skip_feature_importance": False}
    return original_flag_overrides(**{**base, **given})


def test_flag_mapping_onto_config():
    out = _mapped(n_estimators=800, early_stopping_patience=20, train_test_split=0.25, diag_sample=30000,
                  max_diag_sample=25000, fast_shap=True, tree_method="hist", row_cap=0, calib_method="isotonic")
    assert out["booster"] == {"n_estimators": 800, "early_stopping_rounds": 20}
    assert out["test_fraction"] == 0.25 and out["importance_rows"] == 25000 and out["calibration"] == "isotonic"
    assert out["max_shap_rows"] == FAST_SHAP_ROWS
    assert _mapped(fast_shap=True, shap_sample=500)["max_shap_rows"] == 500  # an explicit size wins


@pytest.mark.parametrize("given, named", [({"tree_method": "approx"}, "--tree-method approx"),
                                          ({"row_cap": 100000}, "--row-cap 100000")])
def test_flags_without_meaning_here_say_why(given, named):
    with pytest.raises(GpumetaError, match=named):
        _mapped(**given)


def test_workflow_mode_needs_its_inputs(dataset, capsys):
    argv = ["train", "--dataset", str(dataset / "ds"), "--out-dir", str(dataset / "never"), "--workflow-mode"]
    assert main([*argv, "research"]) == 2
    assert "--test-dataset" in capsys.readouterr().err
    assert main([*argv, "nightly"]) == 2
    assert "production, benchmark, research, testing" in capsys.readouterr().err
    assert not (dataset / "never").exists()


def test_benchmark_mode_aggregates_every_figure_over_splits(dataset, capsys):
    run = dataset / "bench"
    argv = ["train", "--dataset", str(dataset / "ds"), "--out-dir", str(run), "--workflow-mode", "benchmark",
            "--n-benchmark-splits", "2", "--skip-shap", "--skip-feature-importance", "--config",
            str(dataset / "speed.yaml")]
    assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads((run / "benchmark_summary.json").read_text())
    metrics = summary["metrics"]
    for figure in ("macro_f1", "donor_fp", "donor_fn", "acceptor_f1", "donor_ap", "acceptor_top_k"):
        for model in ("base", "meta"):
            block = metrics[f"{model}_{figure}"]
            assert block["low"] <= block["mean"] <= block["high"], (model, figure)
        assert summary["tests"][figure]["n"] == 2
    assert "not an ensemble" in summary["model"]
    text = (run / "training_summary.txt").read_text()
    assert "Across benchmark splits" in text and "donor_fp" in text


def test_allow_partial_ensemble_finishes_without_a_failed_instance_loudly(dataset, monkeypatch):
    from gpumeta.train import instances, train

    real, calls = instances.fit_instance, []

    def second_instance_fails(device, task, *args):
        calls.append(task)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        return real(device, task, *args)

    monkeypatch.setattr(instances, "fit_instance", second_instance_fails)
    speed = {**SPEED, "n_folds": 2}
    with pytest.raises(RuntimeError, match="worker lost"):  # by default the run stops
        train(dataset / "ds", dataset / "strict", device="cpu", quiet=True, strategy="multi-instance",
              genes_per_instance=4, skip_shap=True, minimal_diagnostics=True, **speed)
    calls.clear()
    result = train(dataset / "ds", dataset / "partial", device="cpu", quiet=True, strategy="multi-instance",
                   genes_per_instance=4, allow_partial_ensemble=True, skip_shap=True, minimal_diagnostics=True,
                   **speed)
    info = json.loads((result.run_dir / "run_info.json").read_text())
    partial = [w for w in info["warnings"] if "PARTIAL ENSEMBLE" in w]
    assert len(partial) == 1 and "worker lost" in partial[0] and "--allow-partial-ensemble" in partial[0]
    assert "PARTIAL ENSEMBLE" in (result.run_dir / "training_summary.txt").read_text()
    assert (result.run_dir / "ensemble_cv_results.csv").is_file()
