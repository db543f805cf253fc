"""Commands that make and tidy datasets: build, dedupe, summarize."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import GpumetaError
from .app import QuietOption, app


def _int_list(text: str, option: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise GpumetaError(f"{option} {text!r}: give comma-separated integers, e.g. 3 or 2,3") from exc


def gene_list(text: str | None, ids_file: Path | None = None, column: str | None = None) -> list[str] | None:
    """--genes (comma-separated ids, or @FILE one per line) or --gene-ids-file (with --gene-col)."""
    from ..builder.subset import read_gene_ids

    if column is not None and ids_file is None:
        raise GpumetaError("--gene-col names the column of --gene-ids-file: pass --gene-ids-file too")
    if text is not None and ids_file is not None:
        raise GpumetaError("pass --genes or --gene-ids-file, not both")
    if ids_file is not None:
        return read_gene_ids(ids_file, column)
    if text is None:
        return None
    if text.startswith("@"):
        return read_gene_ids(text[1:], option="--genes")
    return [g.strip() for g in text.split(",") if g.strip()]


@app.command()
def build(
    fasta: Annotated[Path, typer.Option("--fasta", help="Genome FASTA (plain or bgzipped; .fai used if present).")],
    annotation: Annotated[Path, typer.Option("--annotation", help="GTF, GFF3 or SpliceAI annotation table.")],
    out: Annotated[Path, typer.Option("--out", "--output-dir", help="Output dataset directory.")],
    predictions: Annotated[Path | None, typer.Option(
        "--predictions", help="Directory of prediction Parquet (gene_id, chrom, strand, position, "
                              "donor_prob, acceptor_prob, neither_prob).")] = None,
    base_model: Annotated[str | None, typer.Option(
        "--base-model", help="Run a base model instead of --predictions: spliceai (needs "
                             "gpumeta\\[spliceai]).")] = None,
    genes: Annotated[str | None, typer.Option(
        "--genes", help="Only these genes: comma-separated ids or @FILE (one per line).")] = None,
    gene_ids_file: Annotated[Path | None, typer.Option(
        "--gene-ids-file", help="Only the genes listed in this file: one id per line, or a TSV/CSV whose "
                                "--gene-col column (default gene_id, gene, gene_name or id) lists them.")] = None,
    gene_col: Annotated[str | None, typer.Option(
        "--gene-col", help="The column of --gene-ids-file holding gene ids.")] = None,
    n_genes: Annotated[int | None, typer.Option(
        "--n-genes", help="Build N of the genes (of --genes/--gene-ids-file, or of all predicted), chosen by "
                          "--subset-policy.")] = None,
    subset_policy: Annotated[str, typer.Option(
        "--subset-policy", help="How --n-genes chooses: error_total = the N genes with the most base-model "
                                "FP + FN at --threshold; random = a draw seeded by --seed.")] = "error_total",
    threshold: Annotated[float, typer.Option(help="Call a nucleotide when its probability >= this.")] = 0.5,
    window: Annotated[int, typer.Option(help="A call within +-window nt of a true site matches it.")] = 2,
    hard_prob: Annotated[float, typer.Option(
        help="Keep every negative with max(donor, acceptor) >= this (hard negatives).")] = 0.001,
    tn_window: Annotated[int, typer.Option(help="Keep negatives within +-this nt of a site or call.")] = 75,
    easy_ratio: Annotated[float, typer.Option(
        help="Easy negatives drawn per gene = ratio x rows kept otherwise.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the easy-negative draw (per gene, from gene_id) and of "
                                           "--subset-policy random.")] = 0,
    all_positions: Annotated[bool, typer.Option(
        "--all-positions", help="One row per nucleotide of each gene body, no sampling (evaluation sets).")] = False,
    batch_size: Annotated[int | None, typer.Option(help="Genes per batch file (default 100).")] = None,
    batch_rows: Annotated[int | None, typer.Option(
        "--batch-rows", help="Instead of --batch-size: each batch file takes consecutive genes up to this many "
                             "gene-body nucleotides (= rows with --all-positions; sampled builds keep fewer).")] = None,
    context_width: Annotated[int, typer.Option(help="Score context columns at offsets +-1..W.")] = 2,
    shape_width: Annotated[int, typer.Option(
        help="Score-shape columns ({donor,acceptor}_shape_*: each score against its neighbours within +-W); "
             "0 leaves them out.")] = 0,
    site_strength: Annotated[bool, typer.Option(
        "--site-strength", help="Splice-site sequence strength columns (label-free): fixed human-consensus PWM "
                                "scores of the donor 9-mer and acceptor 23-mer, the best rival within +-5 nt, "
                                "NAGNAG AGs, nearest upstream AG, polypyrimidine share.")] = False,
    partner_window: Annotated[int, typer.Option(
        help="Exon-definition columns (label-free, from the base scores): each position's strongest partner "
             "site, the donor 20-500 nt downstream that would close an acceptor's exon (and the mirror for a "
             "donor), and the site 60..W nt away across the intron; 0 leaves them out.")] = 0,
    kmer_sizes: Annotated[str, typer.Option(help="k-mer sizes, comma-separated (e.g. 3 or 2,3).")] = "3",
    kmer_window: Annotated[int, typer.Option(help="Count k-mers within +-this many nt of the row.")] = 20,
    seq_window: Annotated[int, typer.Option(help="One-hot bases at offsets +-this many nt.")] = 10,
    site_convention: Annotated[str, typer.Option(
        help="exon: a site is the exonic base next to the intron (SpliceAI); intron: the intronic base.")] = "exon",
    chrom_alias: Annotated[str, typer.Option(
        help="Map annotation chromosome names onto the FASTA's: none|strip-chr|add-chr.")] = "none",
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Start over, removing a previous build in OUT.")] = False,
    device: Annotated[str, typer.Option(
        "--device", help="Where to compute: cpu|cuda|auto. cpu by default: the per-gene work makes many small "
                         "device-host copies and cuda's speed is unmeasured (docs/BUILD.md).")] = "cpu",
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Log each step with its figures (genes chosen, batches, rows, seconds) "
                                "to stderr.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Build a dataset: label TP/FP/FN/TN, sample negatives, add features, batch by batch (resumable)."""
    from ..builder import build_dataset
    from ..progress import Progress, verbose_log

    gene_ids = gene_list(genes, gene_ids_file, gene_col)
    with verbose_log(verbose), Progress(quiet) as progress:
        tasks: dict[str, list] = {}  # name -> [advance, completed so far]

        def reached(name: str, number: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = [progress.task(name, total), 0]
            advance, completed = tasks[name]
            advance(number - completed)
            tasks[name][1] = number

        result = build_dataset(
            fasta, annotation, out, predictions=predictions, base_model=base_model, device=device,
            overwrite=overwrite, on_batch=lambda number, total, path: reached("building batches", number, total),
            on_gene=lambda number, total: reached(f"{base_model} predictions (genes)", number, total),
            genes=gene_ids, n_genes=n_genes, subset_policy=subset_policy, threshold=threshold, window=window,
            hard_prob=hard_prob, tn_window=tn_window, easy_ratio=easy_ratio, seed=seed,
            all_positions=all_positions, batch_size=batch_size, batch_rows=batch_rows, context_width=context_width,
            shape_width=shape_width, site_strength=site_strength, partner_window=partner_window,
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
