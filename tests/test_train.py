"""Training core: held-out gains, reproducibility, reload in a fresh process, resume, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datasets import FAST, make_dataset

from gpumeta.dataset import load_dataset
from gpumeta.errors import GpumetaError
from gpumeta.model import load_model
from gpumeta.predict import predict
from gpumeta.train import train
from gpumeta.train.splits import GeneSplitter, gene_groups


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "ds", n_genes=48, rows_per_gene=120)


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory):
    return train(dataset, tmp_path_factory.mktemp("runs") / "run", device="cpu", quiet=True,
                 **{**FAST, "skip_shap": False, "minimal_diagnostics": False})


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpumeta", *map(str, args)], capture_output=True, text=True)


def test_meta_beats_base_on_held_out_genes(run):
    summary = json.loads((run.run_dir / "meta_evaluation_summary.json").read_text())
    rows = summary[summary["headline"]]
    assert rows["macro_f1"]["meta"] > rows["macro_f1"]["base"] + 0.05
    errors = {m: sum(rows["site_types"][t]["at_0.5"][m][k] for t in ("donor", "acceptor") for k in ("fp", "fn"))
              for m in ("base", "meta")}
    assert errors["meta"] < errors["base"]
    splits = json.loads((run.run_dir / "splits.json").read_text())
    assert summary["test_genes"] == splits["test"]
    assert not set(splits["test"]) & set(run.model.training_genes)
    assert (run.run_dir / "training_summary.txt").is_file()
    assert json.loads((run.run_dir / "run_info.json").read_text())["status"] == "complete"


def test_gene_splits_never_straddle(run):
    splits = run.splits
    assert not set(splits["train"]) & set(splits["test"])
    for fold in splits["folds"]:
        assert not set(fold["test"]) & (set(fold["train"]) | set(fold["validation"]))
        assert not set(fold["test"]) & set(splits["test"])
    tested = sorted(g for fold in splits["folds"] for g in fold["test"])
    assert tested == sorted(splits["train"])  # every training gene is out-of-fold exactly once


def test_overlapping_genes_form_one_group():
    coords = pd.DataFrame({"gene_id": ["a", "b", "c", "d"], "chrom": ["1", "1", "1", "2"],
                           "gene_start": [100, 150, 400, 120], "gene_end": [200, 300, 500, 180]})
    groups = gene_groups(np.array(["a", "b", "c", "d"], dtype=object), coords)
    assert groups["a"] == groups["b"] and len({groups["a"], groups["c"], groups["d"]}) == 3
    train_genes, test_genes = GeneSplitter(groups, seed=1).holdout(["a", "b", "c", "d"], 0.5)
    assert ({"a", "b"} <= set(train_genes)) or ({"a", "b"} <= set(test_genes))


def test_same_seed_same_splits_and_metrics(run, dataset, tmp_path):
    again = train(dataset, tmp_path / "again", device="cpu", quiet=True,
                  **{**FAST, "skip_shap": False, "minimal_diagnostics": False})
    for name in ("splits.json", "gene_cv_metrics.csv", "meta_evaluation_summary.json"):
        assert (again.run_dir / name).read_text() == (run.run_dir / name).read_text().replace(
            str(run.run_dir), str(again.run_dir)), name


def test_model_reloads_in_fresh_process_with_same_probabilities(run, dataset, tmp_path):
    out = tmp_path / "preds.parquet"
    proc = _cli("predict", "--model", run.run_dir / "model", "--dataset", dataset, "--out", out, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    preds = pd.read_parquet(out)
    from gpumeta.dataset import load_dataset

    data = load_dataset(dataset, "cpu", features=run.model.feature_names)
    expected = run.model.predict_proba(run.model.matrix(data))
    got = preds[["prob_neither", "prob_donor", "prob_acceptor"]].to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert set(preds["predicted_type"]) <= {"neither", "donor", "acceptor"}
    manifest = json.loads((run.run_dir / "model" / "manifest.json").read_text())
    assert manifest["format"] == "gpumeta-model" and set(manifest["thresholds"]) == {"donor", "acceptor"}
    assert not list((run.run_dir / "model").glob("*.pkl"))


def test_resume_after_interruption_gives_the_same_result(run, dataset, tmp_path, monkeypatch):
    from gpumeta.train import workflow

    real_fit = workflow.fit_model
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(workflow, "fit_model", interrupted)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):  # one fold at a time: fold 2 is the second fit
        train(dataset, out, device="cpu", quiet=True, parallel_folds=1, **FAST)
    info = json.loads((out / "run_info.json").read_text())
    assert info["status"] == "running" and not (out / "training_summary.txt").exists()
    # Fold 1 is kept (finished, or its probe when the folds pool their rounds); fold 2 never began.
    folds = out / "folds"
    assert (folds / "fold_1" / "fold.json").is_file() or (folds / "probe_1" / "manifest.json").is_file()
    assert not (folds / "fold_2").exists() and not (folds / "probe_2").exists()
    monkeypatch.setattr(workflow, "fit_model", real_fit)
    with pytest.raises(GpumetaError, match="--resume"):
        train(dataset, out, device="cpu", quiet=True, **FAST)
    resumed = train(dataset, out, device="cpu", quiet=True, resume=True, **FAST)
    assert (resumed.run_dir / "gene_cv_metrics.csv").read_text() == (run.run_dir / "gene_cv_metrics.csv").read_text()
    assert json.loads((out / "run_info.json").read_text())["status"] == "complete"
    a = json.loads((resumed.run_dir / "meta_evaluation_summary.json").read_text())
    b = json.loads((run.run_dir / "meta_evaluation_summary.json").read_text())
    assert a["rows"]["macro_f1"] == b["rows"]["macro_f1"]


def test_isotonic_calibration_and_exclude_file(dataset, tmp_path):
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("motif  # the planted signal\n")
    result = train(dataset, tmp_path / "iso", device="cpu", quiet=True, calibration="isotonic",
                   screening={"exclude_file": str(exclude)}, **FAST)
    assert "motif" not in result.model.feature_names
    assert [c["method"] for c in load_model(result.run_dir / "model", "cpu").calibrators] == ["isotonic"] * 3
    with pytest.raises(GpumetaError, match="exclude file not found"):
        train(dataset, tmp_path / "x", device="cpu", quiet=True, screening={"exclude_file": str(tmp_path / "no")},
              **FAST)


def test_leakage_guard_reports_and_optionally_drops(tmp_path):
    ds = make_dataset(tmp_path / "leaky", n_genes=24, rows_per_gene=60)
    import pyarrow.parquet as pq

    from gpumeta.atomic import write_parquet

    for f in (ds / "master").glob("*.parquet"):
        frame = pq.read_table(f).to_pandas()
        write_parquet(f, frame.assign(leak=(frame["splice_type"] != "neither").astype(float)))
    flagged = train(ds, tmp_path / "flag", device="cpu", quiet=True, **FAST)
    table = pd.read_csv(flagged.run_dir / "feature_manifest.csv").set_index("feature")
    assert table.loc["leak", "status"] == "flagged" and "leak" in flagged.model.feature_names
    dropped = train(ds, tmp_path / "drop", device="cpu", quiet=True, screening={"auto_exclude_leaky": True}, **FAST)
    assert "leak" not in dropped.model.feature_names


WRONG_INPUTS = {"unknown config key": "unknown key 'n_trees'", "other features": "feature columns differ",
                "empty dataset": "holds no *.parquet files", "one gene": "holds 1 gene(s)",
                "sample genes 0": "--sample-genes 0", "sample genes negative": "--sample-genes -3",
                "unknown strategy": "unknown strategy 'fastest'", "one benchmark split": "--n-benchmark-splits 1",
                "missing exclude file": "exclude file not found", "missing dataset": "no_such_dataset",
                "research set of training genes": "every gene is also in",
                "unknown figure format": "figure_formats: 'jpg' unknown"}


@pytest.mark.parametrize("case", list(WRONG_INPUTS))
def test_wrong_input_is_one_line_exit_2_and_creates_nothing(case, dataset, tmp_path):
    out = tmp_path / "out"
    args = ["train", "--dataset", dataset, "--out-dir", out, "--device", "cpu", "--quiet"]
    expected = WRONG_INPUTS[case]
    extra = {"sample genes 0": ["--sample-genes", 0], "sample genes negative": ["--sample-genes", -3],
             "unknown strategy": ["--strategy", "fastest"],
             "one benchmark split": ["--benchmark-mode", "--n-benchmark-splits", 1],
             "missing exclude file": ["--exclude-file", tmp_path / "none.txt"],
             "research set of training genes": ["--test-dataset", dataset],
             "unknown figure format": ["--figure-formats", "png, jpg"]}
    args += extra.get(case, [])
    if case == "missing dataset":
        args[2] = tmp_path / "no_such_dataset"
    if case == "unknown config key":
        (tmp_path / "c.yaml").write_text("n_trees: 5\n")
        args += ["--config", tmp_path / "c.yaml"]
    elif case == "other features":
        other = make_dataset(tmp_path / "other", n_genes=8, rows_per_gene=30, extra_columns=None)
        import pyarrow.parquet as pq

        from gpumeta.atomic import write_parquet

        for f in (other / "master").glob("*.parquet"):
            write_parquet(f, pq.read_table(f).to_pandas().drop(columns=["motif"]))
        args += ["--test-dataset", other]
    elif case == "empty dataset":
        (tmp_path / "empty" / "master").mkdir(parents=True)
        args[2] = tmp_path / "empty"
    elif case == "one gene":
        args[2] = make_dataset(tmp_path / "one", n_genes=1, rows_per_gene=50)
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr
    assert not out.exists()  # validated before anything is created, so the next valid run is not refused


def test_research_mode_evaluates_only_the_other_datasets_genes(dataset, tmp_path):
    other = make_dataset(tmp_path / "other", n_genes=10, rows_per_gene=80, seed=7, gene_prefix="OTHR")
    result = train(dataset, tmp_path / "research", device="cpu", quiet=True, test_dataset=other, **FAST)
    assert result.splits["test"] == sorted(f"OTHR{g:05d}" for g in range(10))
    assert sorted(result.splits["train"]) == sorted(result.model.training_genes)
    assert json.loads((result.run_dir / "run_info.json").read_text())["mode"] == "research"
    assert result.evaluation["test_genes"] == result.splits["test"]


def test_benchmark_mode_reports_mean_and_std_over_holdouts(dataset, tmp_path):
    result = train(dataset, tmp_path / "bench", device="cpu", quiet=True, benchmark_mode=True, n_benchmark_splits=2,
                   **FAST)
    summary = json.loads((result.run_dir / "benchmark_summary.json").read_text())
    splits = pd.read_csv(result.run_dir / "benchmark_splits.csv")
    assert summary["n_splits"] == 2 and len(splits) == 2
    assert summary["meta_macro_f1"]["mean"] == pytest.approx(splits["meta_macro_f1"].mean())
    tests = [json.loads((result.run_dir / f"split_{s:02d}" / "splits.json").read_text())["test"] for s in range(2)]
    assert tests[0] != tests[1]  # repeated holdouts, not one split twice
    assert "Benchmark" in (result.run_dir / "training_summary.txt").read_text()


def test_predict_refuses_to_overwrite_without_the_flag(run, dataset, tmp_path):
    out = tmp_path / "preds.parquet"
    args = ["predict", "--model", run.run_dir / "model", "--dataset", dataset, "--out", out, "--device", "cpu"]
    assert _cli(*args).returncode == 0
    out.write_bytes(b"kept")
    refused = _cli(*args)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--overwrite" in refused.stderr
    assert out.read_bytes() == b"kept"
    assert _cli(*args, "--overwrite").returncode == 0 and len(pd.read_parquet(out)) > 0


def test_run_log_follows_every_step_with_its_figures(run):
    text = (run.run_dir / "run.log").read_text()
    info = json.loads((run.run_dir / "run_info.json").read_text())
    for k in range(1, 4):
        # A fold starts as itself, or as a probe when the folds pool their choice of rounds.
        assert (f"fold {k}/3 starts:" in text or f"fold {k}/3 probe:" in text) and f"fold {k} done in" in text
    for needle in ("device cpu: requested", "strategy: single (", "screening: ", "validation logloss",
                   "test macro F1 base", "tuned thresholds", "final model starts:", "final vs CV, donor",
                   "held-out (", "timings: "):
        assert needle in text, needle
    rounds = info["final_rounds"]["rounds"]
    assert f"rounds {', '.join(f'{label} {r}' for label, r in rounds.items())}" in text


def test_run_info_states_features_rounds_and_agreement(run):
    info = json.loads((run.run_dir / "run_info.json").read_text())
    manifest = json.loads((run.run_dir / "model" / "manifest.json").read_text())
    assert info["n_features_dataset"] == 7 and info["n_features_used"] == len(run.model.feature_names) < 7
    assert isinstance(info["warnings"], list) and all(isinstance(w, str) for w in info["warnings"])
    assert manifest["params"]["rounds"] == info["final_rounds"]["rounds"]
    assert "median of the 3 CV folds" in manifest["params"]["rounds_rule"]
    assert set(info["final_vs_cv"]) == {"donor", "acceptor"}


@pytest.mark.parametrize("overrides, expected", [
    ({"booster": {"rounds": [10, 20]}}, "booster rounds is [10, 20]"),
    ({"min_validation_sites": 0}, "min_validation_sites is 0"),
    ({"agreement_tolerance": 1.5}, "agreement_tolerance is 1.5"),
    ({"figure_formats": ["png", "jpg"]}, "figure_formats: 'jpg' unknown"),
    ({"final_model": "average"}, "final_model is 'average': use one of refit, folds"),
    ({"parallel_folds": 0}, "parallel_folds is 0: give a number of folds"),
    ({"parallel_folds": True}, "parallel_folds is True")])
def test_regime_keys_are_checked(overrides, expected):
    from gpumeta.train.config import load_config

    with pytest.raises(GpumetaError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, overrides)


def test_a_base_blend_is_tuned_saved_and_served(dataset, tmp_path):
    blended = train(dataset, tmp_path / "blend", device="cpu", quiet=True, base_blend=0.5, **FAST)
    plain = train(dataset, tmp_path / "plain", device="cpu", quiet=True, **FAST)
    assert blended.model.base_blend == 0.5 and plain.model.base_blend == 0.0
    assert blended.model.thresholds != plain.model.thresholds  # tuned on the blended out-of-fold scores
    data = load_dataset(dataset, "cpu", features=blended.model.feature_names)
    X = blended.model.matrix(data)
    reloaded = load_model(blended.run_dir / "model", "cpu")
    np.testing.assert_array_equal(reloaded.predict_proba(X), blended.model.predict_proba(X))
    np.testing.assert_allclose(blended.model.predict_proba(X),
                               blended.model.calibrate_margins(blended.model.margins(X), data.base_proba), rtol=1e-5)
    with pytest.raises(GpumetaError, match="base_blend is 1"):
        train(dataset, tmp_path / "x", device="cpu", quiet=True, base_blend=1, **FAST)


def test_the_folds_models_can_be_the_served_model(dataset, tmp_path):
    refit = train(dataset, tmp_path / "refit", device="cpu", quiet=True, **FAST)
    folds = train(dataset, tmp_path / "folds", device="cpu", quiet=True, final_model="folds", **FAST)
    model = folds.model
    assert model.kind == "ensemble" and len(model.instances) == FAST["n_folds"]
    # The same out-of-fold margins as the refit run, so the same calibration and thresholds.
    assert model.calibrators == refit.model.calibrators and model.thresholds == refit.model.thresholds
    data = load_dataset(dataset, "cpu", features=model.feature_names)
    X = model.matrix(data)
    for member, fold in zip(model.instances, folds.splits["folds"]):
        rows = data.rows_of(fold["test"])  # each member is its fold's model, as it scored its held-out genes
        np.testing.assert_allclose(member.margins(X[rows]), np.load(folds.run_dir / "folds" / f"fold_{fold['fold']}"
                                                                    / "margins.npy"), rtol=1e-5, atol=1e-6)
        assert not set(fold["test"]) & set(member.training_genes)
    np.testing.assert_allclose(model.margins(X), np.mean([m.margins(X) for m in model.instances], axis=0),
                               rtol=1e-5, atol=1e-6)
    assert not set(folds.splits["test"]) & set(model.training_genes)
    reloaded = load_model(folds.run_dir / "model", "cpu")
    np.testing.assert_array_equal(reloaded.predict_proba(X), model.predict_proba(X))
    info = json.loads((folds.run_dir / "run_info.json").read_text())
    assert info["final_rounds"]["rule"] == "no refit: the 3 CV folds' models averaged"
    assert "final model" not in info["timings"] or info["timings"]["final model"] < refit.timings["final model"]
    with pytest.raises(GpumetaError, match="final_model folds serves the CV folds' models, but the multi-instance"):
        train(dataset, tmp_path / "x", device="cpu", quiet=True, final_model="folds", strategy="multi-instance",
              genes_per_instance=10, **FAST)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("regime", [{}, {"min_validation_sites": 1, "min_validation_genes": 1}],
                         ids=["rounds-pooled-over-folds", "early-stopped"])
def test_folds_fitted_side_by_side_are_the_folds_fitted_one_at_a_time(dataset, tmp_path, regime):
    one = train(dataset, tmp_path / "one", device="cpu", quiet=True, parallel_folds=1, **regime, **FAST)
    three = train(dataset, tmp_path / "three", device="cpu", quiet=True, parallel_folds=3, **regime, **FAST)
    for k in (1, 2, 3):  # every core for one fold, or one thread each: the same trees
        np.testing.assert_array_equal(np.load(one.run_dir / "folds" / f"fold_{k}" / "margins.npy"),
                                      np.load(three.run_dir / "folds" / f"fold_{k}" / "margins.npy"))
    assert (one.run_dir / "gene_cv_metrics.csv").read_text() == (three.run_dir / "gene_cv_metrics.csv").read_text()
    info = json.loads((three.run_dir / "run_info.json").read_text())
    assert info["fold_concurrency"] == {"folds_at_once": 3, "reason": "parallel_folds 3"}
    rules = {fold["rule"].split(" ")[0] for fold in info["fold_rounds"].values()}
    assert rules == ({"early-stopped"} if regime else {"fixed"})
    assert info["timings"]["learner"] <= info["timings"]["total"]  # fits side by side count their wall time once


def test_a_fold_that_fails_beside_others_stops_them_and_the_run_resumes(run, dataset, tmp_path, monkeypatch):
    import threading

    from gpumeta.train import workflow

    real_fit = workflow.fit_model
    lock, calls = threading.Lock(), {"n": 0}

    def failing(*args, **kwargs):
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n == 2:
            raise GpumetaError("fold two broke")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(workflow, "fit_model", failing)
    out = tmp_path / "failed"
    with pytest.raises(GpumetaError, match="fold two broke"):
        train(dataset, out, device="cpu", quiet=True, parallel_folds=3, **{**FAST, "skip_shap": False,
                                                                         "minimal_diagnostics": False})
    assert not (out / "model").exists() and not (out / "training_summary.txt").exists()
    assert len(list((out / "folds").glob("fold_*/fold.json"))) < 3
    monkeypatch.setattr(workflow, "fit_model", real_fit)
    resumed = train(dataset, out, device="cpu", quiet=True, resume=True, parallel_folds=3,
                    **{**FAST, "skip_shap": False, "minimal_diagnostics": False})
    for name in ("gene_cv_metrics.csv", "meta_evaluation_summary.json"):
        assert (resumed.run_dir / name).read_text() == (run.run_dir / name).read_text().replace(
            str(run.run_dir), str(resumed.run_dir)), name


@pytest.mark.parametrize("device, strategy, cores, requested, memory, expected", [
    ("cpu", "single", 2, None, 1 << 40, (3, "2 cores: one fold more than cores")),
    ("cpu", "single", 16, None, 1 << 40, (5, "16 cores: one fold more than cores")),
    ("cpu", "single", 1, None, 1 << 40, (1, "one core")),
    ("cpu", "single", 2, 2, 1 << 40, (2, "parallel_folds 2")),
    ("cpu", "single", 2, 9, 1 << 40, (5, "parallel_folds 9")),
    ("cpu", "single", 2, None, 5 * 10**6, (2, "2 cores: one fold more than cores, cut to what fits 50% of the "
                                               "free memory")),
    ("cuda", "single", 2, 3, 1 << 40, (1, "one device fits one fold at a time")),
    ("cpu", "multi-instance", 2, 3, 1 << 40, (1, "the multi-instance strategy spreads its own work"))])
def test_folds_fitted_at_once_follow_cores_memory_and_device(device, strategy, cores, requested, memory, expected):
    from types import SimpleNamespace

    from gpumeta.train.strategies import plan_fold_concurrency, threads_each

    backend = SimpleNamespace(name=device, n_threads=cores, memory_budget=lambda: memory)
    # A fold of 10,000 rows x 100 features: ~1.1 MB of bins each; 5 MB of free memory hold two in half of it.
    assert plan_fold_concurrency(requested, strategy, backend, 5, 10_000, 100, 256) == expected
    assert [threads_each(2, n) for n in (1, 2, 3)] == [2, 1, 1] and threads_each(16, 5) == 4


def test_a_part_timed_by_fits_at_once_counts_the_wall_time_any_of_them_ran(monkeypatch):
    from contextlib import ExitStack
    from types import SimpleNamespace

    from gpumeta import progress

    clock = iter([0.0, 3.0, 10.0, 11.0])  # read when the first fit enters and when the last leaves
    monkeypatch.setattr(progress, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    timings = progress.Timings()
    first, second = ExitStack(), ExitStack()
    first.enter_context(timings.measure("learner"))  # t 0
    second.enter_context(timings.measure("learner"))  # inside the first
    first.close()
    second.close()  # t 3: 0-3 counted once, however long each fit was inside
    with timings.measure("learner"):  # t 10 to 11
        pass
    assert timings.seconds["learner"] == 4.0


def test_ctrl_c_in_the_cli_is_one_line_and_status_130(dataset, tmp_path, monkeypatch, capsys):
    from gpumeta.cli import main
    from gpumeta.train import workflow

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(workflow, "fit_model", interrupted)
    assert main(["train", "--dataset", str(dataset), "--out-dir", str(tmp_path / "run"), "--device", "cpu",
                 "--quiet"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "interrupted: outputs written so far are complete; rerun with --resume"


def test_gene_structure_is_fitted_saved_and_reported_beside_the_plain_calls(run, dataset, tmp_path):
    structures = run.model.gene_structure
    assert set(structures) == {"meta", "base"}
    reloaded = load_model(run.run_dir / "model", "cpu")
    assert reloaded.gene_structure == structures
    summary = json.loads((run.run_dir / "meta_evaluation_summary.json").read_text())
    block, plain = summary["gene_structure"], summary[summary["headline"]]["site_types"]
    assert block["scored_on"] == summary["headline"]
    for t in ("donor", "acceptor"):  # the plain calls are the evaluation's own at the tuned thresholds
        for who in ("base", "meta"):
            assert {k: block["site_types"][t][f"{who}_tuned"][k] for k in ("tp", "fp", "fn")} == \
                {k: plain[t]["tuned"][who][k] for k in ("tp", "fp", "fn")}
    data = load_dataset(dataset, "cpu", features=run.model.feature_names)
    held = data.rows_of(summary["test_genes"])
    posterior = run.model.structure_posteriors("meta", data.gene_ids[held], data.meta["position"].to_numpy()[held],
                                               run.model.predict_proba(run.model.matrix(data))[held])
    decoded = sum(int(((posterior[:, j] >= structures["meta"].cuts[j]) ^ (data.y[held] == j + 1)).sum())
                  for j in range(2))
    assert block["fp_fn"]["meta_decoded"] == decoded
    change = block["meta_decoded_vs_base_tuned"]  # the issue-11 measure, with its gene-bootstrap interval
    assert change["genes"] == len(summary["test_genes"])
    assert change["change"] == pytest.approx((decoded - block["fp_fn"]["base_tuned"]) / block["fp_fn"]["base_tuned"])
    assert change["low"] <= change["change"] <= change["high"]
    text = (run.run_dir / "training_summary.txt").read_text()
    assert "[gene-structure decoding]" in text
    assert f"meta decoded against base tuned: FP+FN {change['change']:+.1%}" in text
    off = train(dataset, tmp_path / "off", device="cpu", quiet=True, gene_structure=False, **FAST)
    assert off.model.gene_structure == {} and "gene_structure" not in json.loads(
        (off.run_dir / "meta_evaluation_summary.json").read_text())
    with pytest.raises(GpumetaError, match="'gene_structure' must be a bool"):
        train(dataset, tmp_path / "x", device="cpu", quiet=True, gene_structure="yes", **FAST)


def test_gene_structure_is_left_out_when_a_nucleotide_has_two_rows(tmp_path):
    positions = np.tile(np.arange(120), 24)
    positions[1::120] = 0  # every gene's first nucleotide twice
    data = make_dataset(tmp_path / "ds", n_genes=24, rows_per_gene=120, extra_columns={"position": positions})
    result = train(data, tmp_path / "run", device="cpu", quiet=True, **FAST)
    assert result.model.gene_structure == {}
    assert "gene structure: not fitted, a nucleotide appears in more than one row" in \
        (result.run_dir / "run.log").read_text()


def test_predict_adds_the_decoded_calls_of_a_model_with_a_gene_structure(run, dataset, tmp_path):
    frame = predict(run.run_dir / "model", dataset, tmp_path / "p.parquet", device="cpu")
    cuts = run.model.gene_structure["meta"].cuts
    expected = np.where(frame["decoded_donor"] >= cuts[0], "donor", "neither")
    expected = np.where((frame["decoded_acceptor"] >= cuts[1])
                        & ((expected == "neither") | (frame["decoded_acceptor"] / cuts[1]
                                                      > frame["decoded_donor"] / cuts[0])), "acceptor", expected)
    assert (frame["decoded_type"].to_numpy() == expected).all()
    assert (frame.loc[frame["prob_donor"] < 0.01, "decoded_donor"] == 0).all()  # below the floor: no candidate
