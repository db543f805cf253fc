"""`gpumeta synth`: synthetic genomes (inputs of `gpumeta build`) and ready training datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import GpumetaError
from .app import QuietOption, app

KINDS = ("genome", "dataset")


@app.command()
def synth(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write (new, empty, or an earlier synth output).")],
    genes: Annotated[int | None, typer.Option(
        "--genes", help="Number of genes (default: 40 for a genome, 1000 for a dataset, or the preset's).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed writes identical files.")] = 0,
    kind: Annotated[str, typer.Option(
        "--kind", help="genome: FASTA + GTF + base-model predictions for `gpumeta build`; "
                       "dataset: a ready training dataset (master/*.parquet).")] = "genome",
    preset: Annotated[str | None, typer.Option(
        "--preset", help="Dataset shape by name: metaspliceai-large (9,280 genes, ~3.7 M rows, 1,167 "
                         "features). Dataset only.")] = None,
    rows_per_gene: Annotated[int | None, typer.Option(
        "--rows-per-gene", help="Mean rows per gene of a dataset (default 400). Dataset only.")] = None,
    quiet: QuietOption = False,
) -> None:
    """Write synthetic splice data: a genome with annotation and predictions, or a training dataset."""
    from ..synth import read_card, synth_dataset, synth_genome

    if kind not in KINDS:
        raise GpumetaError(f"--kind {kind!r}: use one of {', '.join(KINDS)}")
    if kind == "genome":
        if preset is not None or rows_per_gene is not None:
            raise GpumetaError("--preset and --rows-per-gene apply to --kind dataset only")
        result = synth_genome(out_dir, n_genes=40 if genes is None else genes, seed=seed)
        if not quiet:
            c = result.counts
            typer.echo(f"wrote {out_dir}: {c['genes']} genes ({c['transcripts']} transcripts) on "
                       f"{len(c['chromosomes'])} chromosomes, {c['donor_sites']} donor + "
                       f"{c['acceptor_sites']} acceptor sites, {c['prediction_rows']:,} prediction rows")
            typer.echo(f"  {result.fasta.name} (+ .fai), {result.gtf.name}, predictions/, "
                       f"{result.sites.name}, {result.card.name}")
        return
    synth_dataset(out_dir, n_genes=genes, seed=seed, rows_per_gene=rows_per_gene, preset=preset)
    if not quiet:
        card = read_card(out_dir)
        classes = ", ".join(f"{k} {v:,}" for k, v in card["class_counts"].items())
        typer.echo(f"wrote {out_dir}: {card['n_genes']:,} genes, {card['n_rows']:,} rows in "
                   f"{card['n_batches']} batches, {card['n_features']} features ({classes})")
