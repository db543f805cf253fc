"""The `annotate` command: meta-corrected scores of every nucleotide of genes or regions, in one step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import DeviceOption, QuietOption, app
from .build import gene_list


@app.command()
def annotate(
    model: Annotated[Path, typer.Option("--model", help="Model directory (RUN/model, or a run directory).")],
    fasta: Annotated[Path, typer.Option("--fasta", help="Genome FASTA (plain or bgzipped).")],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Output directory.")],
    annotation: Annotated[Path | None, typer.Option(
        "--annotation", help="GTF/GFF3: score its genes and evaluate against it (held-out genes only).")] = None,
    regions: Annotated[Path | None, typer.Option(
        "--regions", help="BED6 of regions to score without an annotation (name = predictions' gene_id).")] = None,
    genes: Annotated[str | None, typer.Option(
        "--genes", help="Only these genes/regions: comma-separated ids or @FILE. Alone, coordinates come from "
                        "--predictions.")] = None,
    predictions: Annotated[Path | None, typer.Option(
        "--predictions", help="Base-model prediction Parquet (as for gpumeta build).")] = None,
    base_model: Annotated[str | None, typer.Option(
        "--base-model", help="Run a base model instead of --predictions: spliceai.")] = None,
    all_positions: Annotated[bool, typer.Option(
        "--all-positions", help="Re-score every nucleotide (default: only where the base model is unsure).")] = False,
    floor: Annotated[float | None, typer.Option(
        "--floor", help="Selective mode: re-score where max(donor, acceptor) base score >= this (default: the "
                        "model's recipe hard_prob), plus the context width around.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Genes per batch (resumable unit).")] = 50,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over, removing a previous run in OUT.")] = False,
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Score every nucleotide with the base and the meta-model: Parquet, site calls (BED, TSV), bigWig and
    bedGraph tracks, a per-gene summary and, with an annotation, a held-out evaluation."""
    from ..annotate import annotate as run_annotate
    from ..progress import Progress

    with Progress(quiet) as progress:
        advance = None

        def on_batch(number: int, total: int, path: Path) -> None:
            nonlocal advance
            if advance is None:
                advance = progress.task("scoring gene batches", total)
            advance()

        result = run_annotate(model, fasta, out_dir, annotation=annotation, regions=regions, genes=gene_list(genes),
                              predictions=predictions, base_model=base_model, all_positions=all_positions,
                              floor=floor, batch_size=batch_size, device=device, overwrite=overwrite,
                              on_batch=on_batch)
    resumed = f", {result.resumed_batches} batch(es) resumed" if result.resumed_batches else ""
    typer.echo(f"ok: {result.out_dir}: {result.n_genes:,} genes, {result.n_nucleotides:,} nt, "
               f"{result.n_rescored:,} re-scored ({100 * result.n_rescored / max(result.n_nucleotides, 1):.2f} %), "
               f"meta calls {result.calls['meta_donor']:,} donor / {result.calls['meta_acceptor']:,} acceptor"
               f"{resumed}, {result.seconds:.1f} s")
    sample = (result.evaluation or {}).get("sample")
    if sample:
        typer.echo(f"evaluation: {sample['evaluated_genes']:,} of the {sample['held_out_genes']:,} held-out genes "
                   f"({sample['why']}; see evaluation.json)")
