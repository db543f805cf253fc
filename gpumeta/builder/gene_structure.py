"""Gene-structure features (`gpumeta.features.GENE_STRUCTURE_COLUMNS`) from the annotation.

Per gene, from its representative transcript (most exons, then longest span, then smallest id):
transcript_length = that transcript's span; num_exons, avg/median/total_exon_length of its exons;
total_intron_length = span - exonic bases. n_splice_sites = true sites of the gene (union over
transcripts); num_overlaps = other annotated genes whose bodies overlap it (either strand). Per row:
distance_to_start / distance_to_end = nucleotides to the gene's 5' / 3' end in transcript orientation.
"""

from __future__ import annotations

import numpy as np

from .annotation import Gene, GeneSites


def overlap_counts(genes) -> dict[str, int]:
    """Other genes overlapping each gene's body, per chromosome with two sorted searches."""
    by_chrom: dict[str, list[Gene]] = {}
    for g in genes:
        by_chrom.setdefault(g.chrom, []).append(g)
    out: dict[str, int] = {}
    for chrom_genes in by_chrom.values():
        starts = np.sort([g.start for g in chrom_genes])
        ends = np.sort([g.end for g in chrom_genes])
        for g in chrom_genes:
            hits = np.searchsorted(starts, g.end, side="right") - np.searchsorted(ends, g.start, side="left")
            out[g.gene_id] = int(hits) - 1
    return out


def representative_transcript(gene: Gene):
    return min(gene.transcripts, key=lambda t: (-len(t.exons), -(int(t.exons[-1, 1]) - int(t.exons[0, 0])),
                                                 t.transcript_id))


def gene_structure(gene: Gene, sites: GeneSites, n_overlaps: int) -> dict[str, float]:
    """Per-gene scalar features plus tx_start/tx_end (metadata) of the representative transcript."""
    tx = representative_transcript(gene)
    lengths = (tx.exons[:, 1] - tx.exons[:, 0] + 1).astype(np.float64)
    tx_start, tx_end = int(tx.exons[0, 0]), int(tx.exons[-1, 1])
    span = tx_end - tx_start + 1
    return {
        "tx_start": tx_start, "tx_end": tx_end,
        "gene_length": float(gene.length), "transcript_length": float(span), "num_exons": float(len(lengths)),
        "avg_exon_length": float(lengths.mean()), "median_exon_length": float(np.median(lengths)),
        "total_exon_length": float(lengths.sum()), "total_intron_length": float(span - lengths.sum()),
        "n_splice_sites": float(len(sites.donor) + len(sites.acceptor)), "num_overlaps": float(n_overlaps),
    }
