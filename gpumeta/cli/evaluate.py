"""The `evaluate` command: a trained model on held-out genes, written like train's test-gene outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..evaluate.explain import DEFAULT_MAX_SHAP_ROWS
from .app import DeviceOption, QuietOption, app


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option("--model", help="Model directory (RUN/model, or a run directory).")],
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset holding the genes to evaluate.")],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Directory for the evaluation files and report.")],
    eval_dataset: Annotated[Path | None, typer.Option(
        "--eval-dataset", help="Dataset of EVERY nucleotide of the same genes (gpumeta build --all-positions): "
                               "evaluated too, and made the headline.")] = None,
    genes_file: Annotated[Path | None, typer.Option(
        "--genes-file", help="Genes to evaluate, one id per line (default: every gene of --dataset). None may "
                             "be a training gene of the model.")] = None,
    device: DeviceOption = "auto",
    shap_genes: Annotated[int, typer.Option("--shap-genes", min=1,
                                            help="Genes sampled (seeded) for SHAP values.")] = 200,
    shap_max_rows: Annotated[int, typer.Option(
        "--shap-max-rows", min=1, help="Row cap of the SHAP sample (seeded subsample of the sampled genes' "
                                       "rows).")] = DEFAULT_MAX_SHAP_ROWS,
    skip_shap: Annotated[bool, typer.Option("--skip-shap", help="No SHAP values or beeswarm plots.")] = False,
    minimal: Annotated[bool, typer.Option(
        "--minimal-diagnostics", help="Only the summary JSON and the per-gene table: no figures, "
                                      "calibration or SHAP.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the SHAP gene sample.")] = 0,
    quiet: QuietOption = False,
) -> None:
    """Evaluate a trained meta-model against the base model on held-out genes (metrics, plots, SHAP, report)."""
    from ..backend import get_backend
    from ..dataset import load_dataset
    from ..evaluate import evaluate_heldout, write_report_html
    from ..evaluate.drawing import drawing
    from ..evaluate.heldout import read_gene_list
    from ..model import load_model

    backend = get_backend(device)
    genes = read_gene_list(genes_file) if genes_file is not None else None
    meta_model = load_model(model, device=backend)
    rows = load_dataset(dataset, device=backend, features=meta_model.feature_names)
    full = (load_dataset(eval_dataset, device=backend, features=meta_model.feature_names)
            if eval_dataset is not None else None)
    with drawing():
        summary = evaluate_heldout(meta_model, rows, out_dir, genes=genes, full_dataset=full,
                                   shap_genes=shap_genes, skip_shap=skip_shap, minimal=minimal, seed=seed,
                                   max_shap_rows=shap_max_rows)
    report = write_report_html(out_dir)
    for sentence in summary["warnings"]:  # said even with --quiet: they qualify every figure written
        typer.echo(f"warning: {sentence}", err=True)
    if not quiet:
        head = summary[summary["headline"]]
        typer.echo(f"evaluated {summary['n_test_genes']} genes ({summary['headline'].replace('_', ' ')}): "
                   f"macro F1 base {head['macro_f1']['base']:.4f} -> meta {head['macro_f1']['meta']:.4f}")
        typer.echo(f"wrote {out_dir}/ (report: {report})")
