"""Sequence features of kept rows: k-mer counts and positional one-hot bases, in transcript orientation.

A gene's sequence is held once as uint8 codes (A,C,G,T = 0..3, N = 4) in transcript orientation with
`flank` extra bases on each side, so array index = transcript index + flank. K-mer counts come from a
rolling k-mer code track (one integer per start position, computed once per gene) gathered over each kept
row's window and counted with a single bincount: no per-nucleotide Python and no 4^k x gene-length table.
"""

from __future__ import annotations

import numpy as np

from ..features import NUCLEOTIDES, kmer_names, positional_nucleotide_names
from .fasta import N_CODE, reverse_complement

#: Largest (rows x 4^k) block counted at once, to bound memory for large k or long chunks.
_BINCOUNT_BLOCK = 1 << 24


def gene_sequence(genome, gene, flank: int) -> np.ndarray:
    """Codes of the gene body +-flank, transcript orientation (reverse complement on '-')."""
    codes = genome.fetch(gene.chrom, gene.start - flank, gene.end + flank)
    return codes if gene.strand == "+" else reverse_complement(codes)


def kmer_track(codes, k: int, xp):
    """Code of the k-mer starting at each index (4^k when it holds an N); length len(codes) - k + 1."""
    n = codes.shape[0] - k + 1
    track = xp.zeros(max(n, 0), dtype=xp.int64)
    has_n = xp.zeros(max(n, 0), dtype=bool)
    for t in range(k):
        part = codes[t: t + n].astype(xp.int64)
        has_n |= part == N_CODE
        track = track * 4 + xp.minimum(part, 3)
    track[has_n] = 4 ** k
    return track


def kmer_counts(track, centers, k: int, half_window: int, xp):
    """(4^k, rows) int16 counts of the k-mers lying wholly inside [c - W, c + W] for each center c.

    Code-major (one bincount over code * rows + row), so each k-mer's column comes out contiguous: a
    strided column costs 60x more to hand to Arrow.
    """
    n_codes = 4 ** k + 1  # the extra code collects k-mers with an N and is dropped
    offsets = xp.arange(-half_window, half_window - k + 2)
    block = max(1, _BINCOUNT_BLOCK // n_codes)
    parts = []
    for lo in range(0, centers.shape[0], block):
        c = centers[lo: lo + block]
        rows = c.shape[0]
        codes = track[c[:, None] + offsets[None, :]]
        flat = (codes * rows + xp.arange(rows)[:, None]).ravel()
        parts.append(xp.bincount(flat, minlength=n_codes * rows).reshape(n_codes, rows)[:-1].astype(xp.int16))
    return parts[0] if len(parts) == 1 else xp.concatenate(parts, axis=1)


def sequence_columns(codes, centers, flank: int, kmer_sizes, kmer_window: int, seq_window: int, xp,
                     tracks: dict | None = None) -> dict[str, object]:
    """{column: xp array} of k-mer counts (int16) and one-hot bases (int8) for rows at indices `centers`.

    `tracks` caches the per-gene k-mer tracks between chunks of one gene.
    """
    pos = centers + flank
    out: dict[str, object] = {}
    tracks = {} if tracks is None else tracks
    for k in kmer_sizes:
        if k not in tracks:
            tracks[k] = kmer_track(codes, k, xp)
        counts = kmer_counts(tracks[k], pos, k, kmer_window, xp)
        for j, name in enumerate(kmer_names(k)):
            out[name] = counts[j]
    names = iter(positional_nucleotide_names(seq_window))
    for off in range(-seq_window, seq_window + 1):
        base = codes[pos + off]
        for b in range(len(NUCLEOTIDES)):
            out[next(names)] = (base == b).astype(xp.int8)
    return out

