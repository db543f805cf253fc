"""Commands that train and apply models: train, predict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import GpumetaError
from ..schema import LABELS
from .app import DeviceOption, QuietOption, app

#: The original MetaSpliceAI trainer's --workflow-mode values gpumeta runs (docs/METASPLICEAI.md).
WORKFLOW_MODES = ("production", "benchmark", "research", "testing")
#: The original's --tree-method values: xgboost's hist on the CPU or on a GPU (gpu_hist = hist on cuda).
TREE_METHODS = ("hist", "gpu_hist")
#: The original's --fast-shap: SHAP on at most this many rows.
FAST_SHAP_ROWS = 1000
ORIGINAL = "MetaSpliceAI-compatible options"


def original_flag_overrides(*, n_estimators: int | None, early_stopping_patience: int | None,
                            train_test_split: float | None, shap_sample: int | None, fast_shap: bool,
                            diag_sample: int | None, max_diag_sample: int | None, calib_method: str | None,
                            tree_method: str | None, row_cap: int | None,
                            skip_feature_importance: bool) -> dict:
    """Config overrides from the original trainer's flags (docs/METASPLICEAI.md has the mapping table)."""
    if tree_method is not None and tree_method not in TREE_METHODS:
        raise GpumetaError(f"--tree-method {tree_method}: gpumeta trains with xgboost's hist method only (exact "
                           "and approx are slower and no more accurate at this size); use hist, or gpu_hist "
                           "for a GPU (same as --device cuda)")
    if row_cap not in (None, 0):
        raise GpumetaError(f"--row-cap {row_cap}: gpumeta trains on every row of the dataset (0, all rows, is the "
                           "only value); for a quick subset use --sample-genes N")
    rows = diag_sample
    if max_diag_sample is not None:
        rows = min(rows, max_diag_sample) if rows is not None else max_diag_sample
    shap_rows = shap_sample if shap_sample is not None else FAST_SHAP_ROWS if fast_shap else None
    booster = {k: v for k, v in {"n_estimators": n_estimators,
                                 "early_stopping_rounds": early_stopping_patience}.items() if v is not None}
    return {"booster": booster or None, "test_fraction": train_test_split, "max_shap_rows": shap_rows,
            "importance_rows": rows, "calibration": calib_method,
            "skip_feature_importance": skip_feature_importance or None}


def _json_object(text: str | None, option: str) -> dict | None:
    """`text` parsed as a JSON object of name: value, or a one-line error naming `option`."""
    import json

    from ..errors import GpumetaError

    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GpumetaError(f"{option} {text!r}: not valid JSON ({exc.msg}); give an object such as "
                           '\'{"max_depth": 4}\'') from None
    if not isinstance(value, dict):
        raise GpumetaError(f"{option} {text!r}: give a JSON object of name: value, such as '{{\"max_depth\": 4}}'")
    return value


@app.command()
def train(
    dataset: Annotated[Path, typer.Option("--dataset", help="Training dataset (DIR/master/*.parquet).")],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Run directory to write.")],
    device: DeviceOption = "auto",
    config: Annotated[Path | None, typer.Option("--config", help="YAML/JSON config (see configs/).")] = None,
    test_dataset: Annotated[Path | None, typer.Option(
        "--test-dataset", help="Research mode: train on all of --dataset, evaluate on this dataset's genes.")] = None,
    eval_dataset: Annotated[Path | None, typer.Option(
        "--eval-dataset", help="Every-nucleotide dataset (build --all-positions) of the same genes: scores "
                               "held-out genes at full resolution.")] = None,
    benchmark_mode: Annotated[bool, typer.Option(
        "--benchmark-mode", help="Repeated gene holdouts, mean ± std.")] = False,
    n_benchmark_splits: Annotated[int, typer.Option("--n-benchmark-splits", help="Holdouts in benchmark mode.")] = 3,
    sample_genes: Annotated[int | None, typer.Option(
        "--sample-genes", help="Testing mode: a quick subset of N genes (not for production).")] = None,
    strategy: Annotated[str | None, typer.Option(
        "--strategy", help="auto, single, multi-instance or distributed (auto: by memory and cluster).")] = None,
    calibration: Annotated[str | None, typer.Option("--calibration", help="platt, isotonic or none.")] = None,
    algorithm: Annotated[str | None, typer.Option(
        "--algorithm", help="Learner: xgboost (default), xgboost-rf, xgboost-multilabel (one booster for the "
                            "three classes; no SHAP), lightgbm, catboost, random_forest, logistic_regression.")] = None,
    algorithm_params: Annotated[str | None, typer.Option(
        "--algorithm-params", help="The learner's parameters as a JSON object, e.g. '{\"max_depth\": 4}'.")] = None,
    n_folds: Annotated[int | None, typer.Option("--n-folds", help="Gene CV folds.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of splits and sampling.")] = None,
    auto_exclude_leaky: Annotated[bool, typer.Option(
        "--auto-exclude-leaky", help="Drop features the leakage guard flags (default: report only).")] = False,
    exclude_file: Annotated[Path | None, typer.Option(
        "--exclude-file", help="File of feature names to exclude, one per line (must exist).")] = None,
    shap_genes: Annotated[int | None, typer.Option("--shap-genes", help="Genes in the SHAP sample.")] = None,
    skip_shap: Annotated[bool, typer.Option("--skip-shap", help="No SHAP values.")] = False,
    minimal_diagnostics: Annotated[bool, typer.Option(
        "--minimal-diagnostics", help="Metrics only: no plots beyond the essentials.")] = False,
    figure_formats: Annotated[str | None, typer.Option(
        "--figure-formats", help="Formats of RUN/plots/ figures, comma-separated: png (always), pdf, svg "
                                 "(default png).")] = None,
    cluster: Annotated[str | None, typer.Option(
        "--cluster", help="'local': start a dask cluster here (one worker per GPU on cuda, processes on cpu) "
                          "for multi-instance/distributed training.")] = None,
    scheduler_address: Annotated[str | None, typer.Option(
        "--scheduler-address", help="Use a running dask cluster (tcp://HOST:PORT), e.g. dask-cuda workers.")] = None,
    n_workers: Annotated[int | None, typer.Option(
        "--n-workers", help="Workers of --cluster local (default: one per GPU on cuda, 2 on cpu).")] = None,
    genes_per_instance: Annotated[int | None, typer.Option(
        "--genes-per-instance", help="Genes per multi-instance instance (default: sized to worker memory).")] = None,
    instance_overlap: Annotated[float | None, typer.Option(
        "--instance-overlap", help="Fraction of each instance's genes also given to its neighbour (0-1).")] = None,
    allow_partial_ensemble: Annotated[bool, typer.Option(
        "--allow-partial-ensemble", help="multi-instance: finish without instances that still fail after "
                                         "retries, with a loud warning (default: stop and name them).")] = False,
    boost_from_base: Annotated[bool, typer.Option(
        "--boost-from-base", help="Start each one-vs-rest booster from the base model's logit of its class "
                                  "(config booster.boost_from_base; xgboost learners).")] = False,
    boost_from_base_classes: Annotated[str | None, typer.Option(
        "--boost-from-base-classes", help="Start only these classes' boosters from the base model's logit, "
                                          "comma-separated from neither,donor,acceptor (e.g. acceptor); the "
                                          "others boost from zero (config booster.boost_from_base: \\[acceptor]).")
    ] = None,
    base_blend: Annotated[float | None, typer.Option(
        "--base-blend", help="Weight of the base model's logit blended into the calibrated probabilities, 0-1 "
                             "(config base_blend; 0.5: the study's blend, docs/STUDY.md).")] = None,
    final_model: Annotated[str | None, typer.Option(
        "--final-model", help="The served model: refit (one more fit on all training genes) or folds (the CV "
                              "folds' models averaged, no refit) (config final_model).")] = None,
    gene_structure: Annotated[bool | None, typer.Option(
        "--gene-structure/--no-gene-structure",
        help="Fit gene-structure decoding of the calls on the out-of-fold rows, save it with the model and report "
             "the decoded calls (config gene_structure; on by default).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out-dir.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in --out-dir.")] = False,
    quiet: QuietOption = False,
    # ---- the original MetaSpliceAI trainer's flags, mapped (docs/METASPLICEAI.md) ----
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Each step and its figures on stderr as well as in RUN/run.log.",
        rich_help_panel=ORIGINAL)] = False,
    n_estimators: Annotated[int | None, typer.Option(
        "--n-estimators", help="Boosting rounds cap per class (default 1000); early stopping on validation "
                               "genes picks the number below it.", rich_help_panel=ORIGINAL)] = None,
    early_stopping_patience: Annotated[int | None, typer.Option(
        "--early-stopping-patience", help="Rounds without validation improvement before a booster stops "
                                          "(default 30).", rich_help_panel=ORIGINAL)] = None,
    train_test_split: Annotated[float | None, typer.Option(
        "--train-test-split", help="Fraction of genes held out for evaluation (default 0.2).",
        rich_help_panel=ORIGINAL)] = None,
    workflow_mode: Annotated[str | None, typer.Option(
        "--workflow-mode", help="production (default), benchmark (= --benchmark-mode), research (needs "
                                "--test-dataset) or testing (needs --sample-genes).",
        rich_help_panel=ORIGINAL)] = None,
    calib_method: Annotated[str | None, typer.Option(
        "--calib-method", help="Same as --calibration (platt or isotonic).", rich_help_panel=ORIGINAL)] = None,
    tree_method: Annotated[str | None, typer.Option(
        "--tree-method", help="hist (always used) or gpu_hist (hist on a GPU: --device cuda).",
        rich_help_panel=ORIGINAL)] = None,
    row_cap: Annotated[int | None, typer.Option(
        "--row-cap", help="0 only: gpumeta always trains on every row (a subset: --sample-genes).",
        rich_help_panel=ORIGINAL)] = None,
    shap_sample: Annotated[int | None, typer.Option(
        "--shap-sample", help="At most N rows of the SHAP gene sample are explained (default 20000).",
        rich_help_panel=ORIGINAL)] = None,
    fast_shap: Annotated[bool, typer.Option(
        "--fast-shap", help=f"SHAP on at most {FAST_SHAP_ROWS} rows.", rich_help_panel=ORIGINAL)] = False,
    diag_sample: Annotated[int | None, typer.Option(
        "--diag-sample", help="Held-out rows sampled for feature_importance_analysis/ (permutation, mutual "
                              "information; default 10000).", rich_help_panel=ORIGINAL)] = None,
    max_diag_sample: Annotated[int | None, typer.Option(
        "--max-diag-sample", help="Upper bound on --diag-sample.", rich_help_panel=ORIGINAL)] = None,
    skip_feature_importance: Annotated[bool, typer.Option(
        "--skip-feature-importance", help="No feature_importance_analysis/ (gain and SHAP are still written).",
        rich_help_panel=ORIGINAL)] = False,
    calibrate_per_class: Annotated[bool, typer.Option(
        "--calibrate-per-class", help="Always on: one calibrator per class, fitted on out-of-fold predictions.",
        rich_help_panel=ORIGINAL)] = False,
    train_all_genes: Annotated[bool, typer.Option(
        "--train-all-genes", help="Always on: the final model trains on every training gene (one model, or a "
                                  "multi-instance ensemble when memory needs it: --strategy).",
        rich_help_panel=ORIGINAL)] = False,
    monitor_overfitting: Annotated[bool, typer.Option(
        "--monitor-overfitting", help="Always on: learning curves, train/validation gaps and final-vs-CV "
                                      "agreement (plots/learning_curves.png, summary).",
        rich_help_panel=ORIGINAL)] = False,
    calibration_analysis: Annotated[bool, typer.Option(
        "--calibration-analysis", help="Always on: reliability, ECE and Brier before/after calibration on "
                                       "held-out genes.", rich_help_panel=ORIGINAL)] = False,
    neigh_sample: Annotated[int | None, typer.Option(
        "--neigh-sample", help="No effect: the original's neighbourhood diagnostic is covered by the context "
                               "features and the every-nucleotide evaluation (--eval-dataset).",
        rich_help_panel=ORIGINAL)] = None,
) -> None:
    """Train a meta-model with gene-aware CV and evaluate it on held-out genes."""
    from ..backend import get_backend
    from ..cluster import get_client
    from ..progress import verbose_log
    from ..train import train as run_train

    if workflow_mode is not None:
        if workflow_mode not in WORKFLOW_MODES:
            raise GpumetaError(f"--workflow-mode {workflow_mode}: use one of {', '.join(WORKFLOW_MODES)}")
        if workflow_mode == "research" and test_dataset is None:
            raise GpumetaError("--workflow-mode research evaluates on another dataset's genes: add --test-dataset")
        if workflow_mode == "testing" and sample_genes is None:
            raise GpumetaError("--workflow-mode testing trains on a subset of genes: add --sample-genes N")
        benchmark_mode = benchmark_mode or workflow_mode == "benchmark"
    if tree_method == "gpu_hist":
        if device == "cpu":
            raise GpumetaError("--tree-method gpu_hist asks for a GPU but --device is cpu: drop one of them")
        device = "cuda"
    original = original_flag_overrides(
        n_estimators=n_estimators, early_stopping_patience=early_stopping_patience,
        train_test_split=train_test_split, shap_sample=shap_sample, fast_shap=fast_shap, diag_sample=diag_sample,
        max_diag_sample=max_diag_sample, calib_method=calib_method, tree_method=tree_method, row_cap=row_cap,
        skip_feature_importance=skip_feature_importance)
    if calibration is not None and calib_method is not None and calibration != calib_method:
        raise GpumetaError(f"--calibration {calibration} and --calib-method {calib_method} disagree: give one")
    original["calibration"] = calibration or calib_method
    if boost_from_base and boost_from_base_classes is not None:
        raise GpumetaError("--boost-from-base (every class) and --boost-from-base-classes disagree: give one")
    if boost_from_base or boost_from_base_classes is not None:
        chosen = True if boost_from_base else [c.strip() for c in boost_from_base_classes.split(",") if c.strip()]
        if not chosen:
            raise GpumetaError(f"--boost-from-base-classes {boost_from_base_classes!r} names no class: give "
                               f"classes from {','.join(LABELS)}, e.g. acceptor")
        original["booster"] = {**(original["booster"] or {}), "boost_from_base": chosen}
    screening = {k: v for k, v in {"auto_exclude_leaky": auto_exclude_leaky or None,
                                   "exclude_file": str(exclude_file) if exclude_file else None}.items()
                 if v is not None}
    with verbose_log(verbose), get_client(get_backend(device), cluster, scheduler_address, n_workers,
                                          quiet) as client:
        result = run_train(dataset, out_dir, device=device, config=config, test_dataset=test_dataset,
                           eval_dataset=eval_dataset, benchmark_mode=benchmark_mode,
                           n_benchmark_splits=n_benchmark_splits, sample_genes=sample_genes, resume=resume,
                           overwrite=overwrite, quiet=quiet, strategy=strategy, n_folds=n_folds, seed=seed,
                           shap_genes=shap_genes, skip_shap=skip_shap or None,
                           minimal_diagnostics=minimal_diagnostics or None, screening=screening or None,
                           figure_formats=None if figure_formats is None else [
                               f.strip() for f in figure_formats.split(",") if f.strip()],
                           genes_per_instance=genes_per_instance, instance_overlap=instance_overlap,
                           allow_partial_ensemble=allow_partial_ensemble or None, base_blend=base_blend,
                           final_model=final_model, gene_structure=gene_structure,
                           algorithm=algorithm, algorithm_params=_json_object(algorithm_params, "--algorithm-params"),
                           cluster=client, **original)
    headline = result.evaluation[result.evaluation["headline"]]
    typer.echo(f"held-out macro F1: base {headline['macro_f1']['base']:.4f} -> meta "
               f"{headline['macro_f1']['meta']:.4f} on {result.evaluation['n_test_genes']} genes; "
               f"summary: {result.run_dir / 'training_summary.txt'}")


@app.command()
def predict(
    model: Annotated[Path, typer.Option("--model", help="Model directory (RUN/model) of any kind.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset to score (labels optional).")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file of probabilities to write.")],
    device: DeviceOption = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
) -> None:
    """Score a dataset with a saved model: probabilities and the label at the model's thresholds."""
    from ..predict import predict as run_predict

    frame = run_predict(model, dataset, out, device=device, overwrite=overwrite)
    typer.echo(f"wrote {len(frame):,} rows to {out}")
