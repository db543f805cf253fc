"""Commands that train and apply models: train, predict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import DeviceOption, QuietOption, app


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
        "--algorithm", help="Learner: xgboost (default), xgboost-rf, lightgbm, catboost, random_forest, "
                            "logistic_regression.")] = None,
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
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out-dir.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in --out-dir.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Train a meta-model with gene-aware CV and evaluate it on held-out genes."""
    from ..backend import get_backend
    from ..cluster import get_client
    from ..train import train as run_train

    screening = {k: v for k, v in {"auto_exclude_leaky": auto_exclude_leaky or None,
                                   "exclude_file": str(exclude_file) if exclude_file else None}.items()
                 if v is not None}
    with get_client(get_backend(device), cluster, scheduler_address, n_workers, quiet) as client:
        result = run_train(dataset, out_dir, device=device, config=config, test_dataset=test_dataset,
                           eval_dataset=eval_dataset, benchmark_mode=benchmark_mode,
                           n_benchmark_splits=n_benchmark_splits, sample_genes=sample_genes, resume=resume,
                           overwrite=overwrite, quiet=quiet, strategy=strategy, calibration=calibration,
                           n_folds=n_folds, seed=seed, shap_genes=shap_genes, skip_shap=skip_shap or None,
                           minimal_diagnostics=minimal_diagnostics or None, screening=screening or None,
                           genes_per_instance=genes_per_instance, instance_overlap=instance_overlap,
                           algorithm=algorithm, algorithm_params=_json_object(algorithm_params, "--algorithm-params"),
                           cluster=client)
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
