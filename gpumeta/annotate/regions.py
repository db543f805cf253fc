"""Which stretches of the genome to score: annotated genes, BED regions, or genes named in a list.

Every region is a builder `Gene` (1-based inclusive body, strand); regions from a BED or from the
predictions alone have no transcripts, so they are scored without an annotation. Checks, each one line
naming the file, region and value: BED columns and coordinates, unique names, every region inside its
FASTA chromosome, and base-model predictions covering each region exactly once.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..builder.annotation import Gene
from ..builder.predictions import Predictions
from ..errors import GpumetaError, shown


def read_bed(path: str | Path) -> dict[str, Gene]:
    """Regions of a BED6 file (0-based half-open; name in column 4, strand in column 6), by name."""
    path = Path(path)
    if not path.is_file():
        raise GpumetaError(f"regions {path} does not exist: pass a BED file (chrom, start, end, name, score, strand)")
    frame = pd.read_csv(path, sep="\t", header=None, comment="#", dtype=str, keep_default_na=False)
    frame = frame[~frame[0].str.startswith(("track", "browser"))]
    if frame.shape[1] < 6:
        raise GpumetaError(f"regions {path}: has {frame.shape[1]} column(s); a region needs BED6 (chrom, start, end, "
                           "name, score, strand) because features are oriented by strand")
    regions: dict[str, Gene] = {}
    for line, row in enumerate(frame.itertuples(index=False), start=1):
        chrom, start, end, name, strand = row[0], row[1], row[2], row[3], row[5]
        if not (start.isdigit() and end.isdigit()) or int(start) >= int(end):
            raise GpumetaError(f"regions {path}: region {name or line} has start {start!r} end {end!r}; "
                               "need integers with start < end (0-based, half-open)")
        if strand not in ("+", "-"):
            raise GpumetaError(f"regions {path}: region {name or line} has strand {strand!r}; give + or -")
        if not name or name in regions:
            raise GpumetaError(f"regions {path}: region name {name!r} (line {line}) is empty or repeated; "
                               "every region needs a unique name (it matches the predictions' gene_id)")
        regions[name] = Gene(name, chrom, strand, int(start) + 1, int(end))
    if not regions:
        raise GpumetaError(f"regions {path} holds no region; add BED6 lines")
    return regions


def regions_of_predictions(source: Predictions) -> dict[str, Gene]:
    """One region per predicted gene: its chromosome, strand and the positions its predictions cover."""
    coverage = source.coverage()
    return {row.gene_id: Gene(row.gene_id, row.chrom, row.strand, int(row.position_min), int(row.position_max))
            for row in coverage.itertuples(index=False)}


def select(regions: dict[str, Gene], wanted: list[str] | None, where: str) -> list[Gene]:
    """The wanted regions (all of them by default) in genome order; names what is missing."""
    if wanted is None:
        chosen = list(regions.values())
    else:
        missing = [g for g in wanted if g not in regions]
        if missing:
            raise GpumetaError(f"gene(s) {shown(missing)} ({len(missing)} of {len(wanted)} requested) not in {where}; "
                               "check the --genes list")
        chosen = [regions[g] for g in dict.fromkeys(wanted)]
    return sorted(chosen, key=lambda g: (g.chrom, g.start, g.gene_id))


def check_inside_genome(regions: list[Gene], genome, where: str) -> None:
    """Every region's chromosome in the FASTA and its body within the chromosome."""
    genome.check_chroms({g.chrom for g in regions}, where)
    for g in regions:
        length = genome.lengths[genome.fasta_name(g.chrom)]
        if g.start < 1 or g.end > length:
            raise GpumetaError(f"{where}: region {g.gene_id} {g.chrom}:{g.start}-{g.end} lies outside chromosome "
                               f"{g.chrom} of FASTA {genome.path} (length {length:,}); fix the coordinates or the "
                               "FASTA")


def check_coverage(regions: list[Gene], source: Predictions) -> None:
    """Predictions hold finite probabilities and cover each region's body exactly once, same chrom/strand."""
    source.check_values()
    coverage = source.coverage()
    repeated = set(coverage.loc[coverage["gene_id"].duplicated(), "gene_id"])
    by_gene = {row.gene_id: row for row in coverage.itertuples(index=False)}
    for g in regions:
        row = by_gene.get(g.gene_id)
        if row is None:
            raise GpumetaError(f"predictions {source.path}: region {g.gene_id} has no base-model scores; predict it "
                               "(or pass --base-model spliceai), or leave it out of the regions")
        if g.gene_id in repeated:
            raise GpumetaError(f"predictions {source.path}: gene {g.gene_id} appears with several chromosomes/strands")
        if (row.chrom, row.strand) != (g.chrom, g.strand):
            raise GpumetaError(f"predictions {source.path}: region {g.gene_id} is on {row.chrom}{row.strand} there but "
                               f"{g.chrom}{g.strand} in the regions; use matching inputs")
        counts = (row.position_count, row.position_count_distinct, row.position_min, row.position_max)
        if counts != (g.length, g.length, g.start, g.end):
            raise GpumetaError(
                f"predictions {source.path}: region {g.gene_id} has {row.position_count_distinct} distinct of "
                f"{row.position_count} positions in {row.position_min}..{row.position_max}, but the region is "
                f"{g.chrom}:{g.start}-{g.end} ({g.length:,} nt); predictions must cover every position exactly once")
