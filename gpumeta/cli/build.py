"""Commands that make and tidy datasets: build, dedupe, summarize."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import GpumetaError
from .app import DeviceOption, QuietOption, app


def _int_list(text: str, option: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise GpumetaError(f"{option} {text!r}: give comma-separated integers, e.g. 3 or 2,3") from exc


def _gene_list(text: str | None) -> list[str] | None:
    """Comma-separated ids, or @FILE with one id per line."""
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise GpumetaError(f"--genes {text}: file {path} does not exist")
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [g.strip() for g in text.split(",") if g.strip()]


@app.command()
def build(
    fasta: Annotated[Path, typer.Option("--fasta", help="Genome FASTA (plain or bgzipped; .fai used if present).")],
    annotation: Annotated[Path, typer.Option("--annotation", help="GTF, GFF3 or SpliceAI annotation table.")],
    out: Annotated[Path, typer.Option("--out", help="Output dataset directory.")],
    predictions: Annotated[Path | None, typer.Option(
        "--predictions", help="Directory of prediction Parquet (gene_id, chrom, strand, position, "
                              "donor_prob, acceptor_prob, neither_prob).")] = None,
    base_model: Annotated[str | None, typer.Option(
        "--base-model", help="Run a base model instead of --predictions: spliceai (needs gpumeta[spliceai]).")] = None,
    genes: Annotated[str | None, typer.Option(
        "--genes", help="Only these genes: comma-separated ids or @FILE (one per line).")] = None,
    threshold: Annotated[float, typer.Option(help="Call a nucleotide when its probability >= this.")] = 0.5,
    window: Annotated[int, typer.Option(help="A call within +-window nt of a true site matches it.")] = 2,
    hard_prob: Annotated[float, typer.Option(
        help="Keep every negative with max(donor, acceptor) >= this (hard negatives).")] = 0.001,
    tn_window: Annotated[int, typer.Option(help="Keep negatives within +-this nt of a site or call.")] = 75,
    easy_ratio: Annotated[float, typer.Option(
        help="Easy negatives drawn per gene = ratio x rows kept otherwise.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the easy-negative draw (per gene, from gene_id).")] = 0,
    all_positions: Annotated[bool, typer.Option(
        "--all-positions", help="One row per nucleotide of each gene body, no sampling (evaluation sets).")] = False,
    batch_size: Annotated[int, typer.Option(help="Genes per batch file.")] = 100,
    context_width: Annotated[int, typer.Option(help="Score context columns at offsets +-1..W.")] = 2,
    kmer_sizes: Annotated[str, typer.Option(help="k-mer sizes, comma-separated (e.g. 3 or 2,3).")] = "3",
    kmer_window: Annotated[int, typer.Option(help="Count k-mers within +-this many nt of the row.")] = 20,
    seq_window: Annotated[int, typer.Option(help="One-hot bases at offsets +-this many nt.")] = 10,
    site_convention: Annotated[str, typer.Option(
        help="exon: a site is the exonic base next to the intron (SpliceAI); intron: the intronic base.")] = "exon",
    chrom_alias: Annotated[str, typer.Option(
        help="Map annotation chromosome names onto the FASTA's: none|strip-chr|add-chr.")] = "none",
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Start over, removing a previous build in OUT.")] = False,
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Build a dataset: label TP/FP/FN/TN, sample negatives, add features, batch by batch (resumable)."""
    from ..builder import build_dataset
    from ..progress import Progress

    with Progress(quiet) as progress:
        advance = None

        def on_batch(number: int, total: int, path: Path) -> None:
            nonlocal advance
            if advance is None:
                advance = progress.task("building batches", total)
            advance()

        result = build_dataset(
            fasta, annotation, out, predictions=predictions, base_model=base_model, device=device,
            overwrite=overwrite, on_batch=on_batch, genes=_gene_list(genes), threshold=threshold, window=window,
            hard_prob=hard_prob, tn_window=tn_window, easy_ratio=easy_ratio, seed=seed,
            all_positions=all_positions, batch_size=batch_size, context_width=context_width,
            kmer_sizes=_int_list(kmer_sizes, "--kmer-sizes"), kmer_window=kmer_window, seq_window=seq_window,
            site_convention=site_convention, chrom_alias=chrom_alias)
    resumed = f", {result.resumed_batches} batch(es) resumed" if result.resumed_batches else ""
    typer.echo(f"ok: {result.out_dir}: {result.n_genes:,} genes, {result.n_rows:,} rows in "
               f"{len(result.batch_files)} batch(es){resumed}, {result.seconds:.1f} s")


@app.command()
def dedupe(
    dataset: Annotated[Path, typer.Argument(help="Dataset: DIR (with master/), a Parquet directory or file.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the deduplicated dataset here.")] = None,
    inplace: Annotated[bool, typer.Option("--inplace", help="Replace DATASET atomically instead.")] = False,
    key: Annotated[str | None, typer.Option(
        help="Columns that identify a site (default gene_id,absolute_position).")] = None,
) -> None:
    """Drop duplicate rows of one site (the first occurrence is kept)."""
    from ..builder import dedupe as run_dedupe

    result = run_dedupe(dataset, out=out, inplace=inplace, key=key.split(",") if key else None)
    typer.echo(f"ok: {result.out}: removed {result.removed:,} of {result.rows_in:,} rows "
               f"(key {','.join(result.key)})")


@app.command()
def summarize(
    dataset: Annotated[Path, typer.Argument(help="Dataset: DIR (with master/), a Parquet directory or file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Genes, rows, class balance, TP/FP/FN/TN, sampling strata and nulls of a dataset."""
    from ..builder import summarize as run_summarize
    from ..builder.summarize import summary_table

    summary = run_summarize(dataset)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        from rich.console import Console

        Console().print(summary_table(summary))
