"""`synth_genome`: a FASTA genome (+ .fai), a GTF annotation, a base model's per-nucleotide predictions
(Parquet) and the truth (sites.tsv): the inputs of `gpumeta build`, deterministic for a seed.

Genes are designed in transcript orientation with the motifs and peaks of `error_model`, laid out on a
few chromosomes, and written in genomic coordinates (1-based, inclusive).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from .. import __version__
from ..atomic import atomic_dir, write_csv, write_json, write_parquet, write_text
from ..features import SITE_TYPES
from .common import GENOME_CARD, _check_count, _check_seed, _prepare_out_dir
from .error_model import (
    _LETTERS,
    ErrorModel,
    _background,
    _has_core,
    _place_peaks,
    _place_site_peaks,
    _random_bases,
    _shift_offsets,
    _to_probabilities,
    _uniform,
    _write_cryptic_motifs,
    _write_site_motifs,
)


@dataclass
class _Gene:
    """One synthetic gene, designed in transcript orientation (index 0 = the transcript's 5' end)."""

    gene_id: str
    strand: str
    seq: np.ndarray
    transcripts: list[tuple[str, list[tuple[int, int]]]]  # (id, exons as 0-based inclusive (start, end))
    sites: dict[str, np.ndarray]       # site type -> transcript positions (union over transcripts)
    weak: dict[str, np.ndarray]
    shift: dict[str, np.ndarray]
    cryptic: dict[str, np.ndarray]
    chrom: str = ""
    start: int = 0                    # 1-based genomic, inclusive
    end: int = 0

    @property
    def length(self) -> int:
        return int(self.seq.size)

    def genomic(self, t: np.ndarray) -> np.ndarray:
        """1-based genomic coordinates of transcript positions."""
        return self.start + t if self.strand == "+" else self.end - t


@dataclass(frozen=True)
class SynthGenome:
    """What `synth_genome` wrote: paths and counts."""

    out_dir: Path
    fasta: Path
    gtf: Path
    predictions: Path
    sites: Path
    card: Path
    counts: dict


def _exon_layout(rng: np.random.Generator) -> list[tuple[int, int]]:
    n_exons = int(rng.integers(2, 9))
    lengths = [int(rng.integers(80, 301))] + [int(rng.integers(60, 221)) for _ in range(n_exons - 2)] \
        + [int(rng.integers(200, 601))]
    exons, cursor = [], 0
    for i, length in enumerate(lengths):
        if i:
            cursor += int(rng.integers(200, 1501))
        exons.append((cursor, cursor + length - 1))
        cursor += length
    return exons


def _alternative_transcripts(exons: list[tuple[int, int]], rng: np.random.Generator) -> list[list[tuple[int, int]]]:
    """Exon skipping, an alternative donor (exon extended 12-40 nt) and acceptor (24-60 nt), at random."""
    alts = []
    n = len(exons)
    if n >= 3 and rng.random() < 0.35:
        skip = int(rng.integers(1, n - 1))
        alts.append([e for i, e in enumerate(exons) if i != skip])
    if rng.random() < 0.3:
        j = int(rng.integers(0, n - 1))
        alts.append([(s, e + int(rng.integers(12, 41))) if i == j else (s, e) for i, (s, e) in enumerate(exons)])
    if rng.random() < 0.3:
        j = int(rng.integers(1, n))
        alts.append([(s - int(rng.integers(24, 61)), e) if i == j else (s, e) for i, (s, e) in enumerate(exons)])
    return alts


def _pick_apart(rng: np.random.Generator, n: int, low: int, high: int, avoid: np.ndarray, gap: int) -> np.ndarray:
    """Up to n positions in [low, high) at least `gap` from `avoid` and from each other."""
    chosen: list[int] = []
    taken = list(avoid)
    for candidate in rng.integers(low, max(high, low + 1), size=4 * n):
        if len(chosen) == n:
            break
        if all(abs(int(candidate) - t) >= gap for t in taken):
            chosen.append(int(candidate))
            taken.append(int(candidate))
    return np.array(sorted(chosen), dtype=np.int64)


def _design_gene(index: int, strand: str, em: ErrorModel, rng: np.random.Generator) -> _Gene:
    exons = _exon_layout(rng)
    structures = [exons, *_alternative_transcripts(exons, rng)]
    gene_id = f"SYNG{index + 1:05d}"
    transcripts = [(f"SYNT{index + 1:05d}.{k + 1}", ex) for k, ex in enumerate(structures)]
    sites = {"donor": sorted({e for ex in structures for _, e in ex[:-1]}),
             "acceptor": sorted({s for ex in structures for s, _ in ex[1:]})}
    length = exons[-1][1] + 1
    seq = _random_bases(rng, length)
    weak, shift, cryptic = {}, {}, {}
    for site_type in SITE_TYPES:
        pos = np.array(sites[site_type], dtype=np.int64)
        weak[site_type] = rng.random(pos.size) < em.weak_site_rate
        shifted = ~weak[site_type] & (rng.random(pos.size) < em.shift_rate)
        shift[site_type] = np.where(shifted, _shift_offsets(rng, pos.size), 0)
        _write_site_motifs(seq, pos, site_type, weak[site_type], em, rng)
        sites[site_type] = pos
    # Cryptic sites stay clear of real motifs and of the 3' end (where an overlapping gene may sit).
    all_sites = np.concatenate([sites["donor"], sites["acceptor"]])
    n_cryptic = int(rng.poisson(em.cryptic_per_kb * length / 1000))
    picked = _pick_apart(rng, n_cryptic, 25, length - 200, all_sites, 30)
    is_donor = rng.random(picked.size) < 0.5
    for site_type, mask in (("donor", is_donor), ("acceptor", ~is_donor)):
        cryptic[site_type] = picked[mask]
        _write_cryptic_motifs(seq, picked[mask], site_type, em, rng)
    return _Gene(gene_id, strand, seq, transcripts, sites, weak, shift, cryptic)


def _revcomp(codes: np.ndarray) -> np.ndarray:
    return (3 - codes)[::-1]


def _assemble(genes: list[_Gene], n_chromosomes: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Place genes on chromosomes "1", "2", ... with intergenic gaps; genes 0 and 1 overlap (3' ends)."""
    n_chrom = min(n_chromosomes, max(1, len(genes) // 2))
    chromosomes: dict[str, np.ndarray] = {}
    for c in range(n_chrom):
        members = [g for i, g in enumerate(genes) if i * n_chrom // len(genes) == c]
        name = str(c + 1)
        cursor = int(rng.integers(1000, 3001))
        previous_end = 0
        for g in members:
            g.chrom = name
            if g is genes[1]:
                # Opposite strands, 3' ends shared: both last exons are >= 200 nt, the overlap <= 150.
                g.start = previous_end - int(rng.integers(40, 151)) + 1
            else:
                g.start = cursor + int(rng.integers(300, 2001))
            g.end = g.start + g.length - 1
            cursor = previous_end = g.end
        genome = _random_bases(rng, cursor + int(rng.integers(1000, 3001)))
        for g in members:
            oriented = g.seq if g.strand == "+" else _revcomp(g.seq)
            # A later overlapping gene keeps the earlier gene's bases (its own motifs lie outside).
            first_free = max(g.start, max((h.end + 1 for h in members if h is not g and h.start < g.start
                                           and h.end >= g.start), default=g.start))
            genome[first_free - 1:g.end] = oriented[first_free - g.start:]
        chromosomes[name] = genome
    return chromosomes


def _gene_predictions(g: _Gene, genome: np.ndarray, em: ErrorModel, rng: np.random.Generator):
    """The base model over one gene body, in transcript orientation, from the genome's actual bases."""
    body = genome[g.start - 1:g.end]
    seq = body if g.strand == "+" else _revcomp(body)
    streams = {}
    bump_counts = {}
    for site_type in SITE_TYPES:
        stream = _background(seq, site_type, em, rng)
        sites = g.sites[site_type]
        # Bumps: ordinary core dinucleotides, away from sites and cryptic sites.
        busy = np.concatenate([sites, g.cryptic["donor"], g.cryptic["acceptor"]])
        candidates = np.flatnonzero(_has_core(seq, site_type))
        candidates = candidates[(candidates >= 2) & (candidates < seq.size - 2)]
        if busy.size:
            near = np.abs(candidates[:, None] - busy[None, :]).min(axis=1) < 10
            candidates = candidates[~near]
        n_bumps = min(candidates.size, int(rng.poisson(em.bumps_per_kb * seq.size / 1000)))
        bumps = np.sort(rng.choice(candidates, size=n_bumps, replace=False)) if n_bumps else candidates[:0]
        _place_peaks(stream, bumps, _uniform(rng, em.bump_peak, bumps.size), rng)
        cryptic = g.cryptic[site_type]
        _place_peaks(stream, cryptic, _uniform(rng, em.cryptic_peak, cryptic.size), rng)
        _place_site_peaks(stream, sites, g.weak[site_type], g.shift[site_type], em, rng)
        streams[site_type] = stream
        bump_counts[site_type] = int(bumps.size)
    d, a, n = _to_probabilities(streams["donor"], streams["acceptor"])
    if g.strand == "-":
        d, a, n = d[::-1], a[::-1], n[::-1]
    table = pa.table({
        "gene_id": pa.array([g.gene_id] * d.size, pa.string()),
        "chrom": pa.array([g.chrom] * d.size, pa.string()),
        "strand": pa.array([g.strand] * d.size, pa.string()),
        "position": pa.array(np.arange(g.start, g.end + 1, dtype=np.int64)),
        "donor_prob": pa.array(np.ascontiguousarray(d)),
        "acceptor_prob": pa.array(np.ascontiguousarray(a)),
        "neither_prob": pa.array(np.ascontiguousarray(n)),
    })
    return table, bump_counts


def _fasta_and_index(chromosomes: dict[str, np.ndarray], line_width: int = 60) -> tuple[bytes, str]:
    """FASTA bytes and the matching samtools .fai text (name, length, offset, bases/line, bytes/line)."""
    parts: list[bytes] = []
    index: list[str] = []
    offset = 0
    for name, codes in chromosomes.items():
        header = f">{name}\n".encode()
        letters = _LETTERS[codes].tobytes()
        lines = b"\n".join(letters[i:i + line_width] for i in range(0, len(letters), line_width)) + b"\n"
        index.append(f"{name}\t{codes.size}\t{offset + len(header)}\t{line_width}\t{line_width + 1}")
        parts += [header, lines]
        offset += len(header) + len(lines)
    return b"".join(parts), "\n".join(index) + "\n"


def _gtf_lines(g: _Gene) -> list[str]:
    def row(feature: str, start: int, end: int, attributes: str) -> str:
        return "\t".join([g.chrom, "gpumeta_synth", feature, str(start), str(end), ".", g.strand, ".", attributes])

    gene_attrs = (f'gene_id "{g.gene_id}"; gene_name "{g.gene_id.replace("SYNG", "SYN")}"; '
                  'gene_type "protein_coding"; gene_biotype "protein_coding";')
    lines = [row("gene", g.start, g.end, gene_attrs)]
    for tid, exons in g.transcripts:
        span = g.genomic(np.array([exons[0][0], exons[-1][1]]))
        t_attrs = f'{gene_attrs} transcript_id "{tid}"; transcript_type "protein_coding";'
        lines.append(row("transcript", int(span.min()), int(span.max()), t_attrs))
        for number, (s, e) in enumerate(exons, start=1):
            ends = g.genomic(np.array([s, e]))
            lines.append(row("exon", int(ends.min()), int(ends.max()), f'{t_attrs} exon_number "{number}";'))
    return lines


def synth_genome(out_dir: str | Path, n_genes: int = 40, seed: int = 0, *, n_chromosomes: int = 2,
                 error_model: ErrorModel | None = None) -> SynthGenome:
    """Write a synthetic genome, annotation, base-model predictions and truth into `out_dir`.

    Files: ``genome.fa`` (+ ``genome.fa.fai``), ``annotation.gtf``, ``predictions/part-00000.parquet``,
    ``sites.tsv`` and ``synth_card.json``. Genes 0 (+) and 1 (-) overlap at their 3' ends; the output
    directory appears complete or not at all.
    """
    import pandas as pd

    n_genes = _check_count("n_genes", n_genes, 2)
    seed = _check_seed(seed)
    n_chromosomes = _check_count("n_chromosomes", n_chromosomes, 1)
    em = error_model or ErrorModel()
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir, GENOME_CARD)

    design_ss, layout_ss, score_ss = np.random.SeedSequence(seed).spawn(3)
    design_rng = np.random.default_rng(design_ss)
    strands = ["+", "-"] + ["+" if design_rng.random() < 0.5 else "-" for _ in range(n_genes - 2)]
    genes = [_design_gene(i, strands[i], em, design_rng) for i in range(n_genes)]
    chromosomes = _assemble(genes, n_chromosomes, np.random.default_rng(layout_ss))

    score_rng = np.random.default_rng(score_ss)
    tables, bumps = [], {t: 0 for t in SITE_TYPES}
    for g in genes:
        table, gene_bumps = _gene_predictions(g, chromosomes[g.chrom], em, score_rng)
        tables.append(table)
        for t in SITE_TYPES:
            bumps[t] += gene_bumps[t]
    predictions = pa.concat_tables(tables)

    site_rows = pd.DataFrame([
        (g.gene_id, g.chrom, g.strand, int(p), t)
        for g in genes for t in SITE_TYPES for p in g.genomic(g.sites[t])
    ], columns=["gene_id", "chrom", "strand", "position", "site_type"]).sort_values(
        ["gene_id", "position", "site_type"], ignore_index=True)
    fasta, fai = _fasta_and_index(chromosomes)
    counts = {
        "genes": n_genes,
        "genes_plus": sum(g.strand == "+" for g in genes),
        "genes_minus": sum(g.strand == "-" for g in genes),
        "transcripts": sum(len(g.transcripts) for g in genes),
        "chromosomes": {name: int(c.size) for name, c in chromosomes.items()},
        "prediction_rows": predictions.num_rows,
        "overlapping_gene_pairs": [[genes[0].gene_id, genes[1].gene_id]],
        **{f"{t}_sites": int(g_sum) for t, g_sum in
           ((t, sum(g.sites[t].size for g in genes)) for t in SITE_TYPES)},
        **{f"weak_{t}_sites": int(sum(g.weak[t].sum() for g in genes)) for t in SITE_TYPES},
        **{f"shifted_{t}_peaks": int(sum((g.shift[t] != 0).sum() for g in genes)) for t in SITE_TYPES},
        **{f"cryptic_{t}_sites": int(sum(g.cryptic[t].size for g in genes)) for t in SITE_TYPES},
        **{f"{t}_bumps": bumps[t] for t in SITE_TYPES},
    }
    card = {
        "kind": "genome", "generator": f"gpumeta.synth {__version__}",
        "parameters": {"n_genes": n_genes, "seed": seed, "n_chromosomes": n_chromosomes},
        "error_model": dataclasses.asdict(em),
        "site_convention": "exonic base next to the intron in transcript orientation: donor = last base of a "
                           "non-last exon, acceptor = first base of a non-first exon; positions 1-based",
        "files": {"fasta": "genome.fa", "fai": "genome.fa.fai", "gtf": "annotation.gtf",
                  "predictions": "predictions", "sites": "sites.tsv"},
        "counts": counts,
    }
    with atomic_dir(out_dir) as tmp:
        (tmp / "genome.fa").write_bytes(fasta)
        (tmp / "genome.fa.fai").write_text(fai)
        write_text(tmp / "annotation.gtf", "\n".join(line for g in genes for line in _gtf_lines(g)) + "\n")
        write_parquet(tmp / "predictions" / "part-00000.parquet", predictions)
        write_csv(tmp / "sites.tsv", site_rows, sep="\t")
        write_json(tmp / GENOME_CARD, card)
    return SynthGenome(out_dir, out_dir / "genome.fa", out_dir / "annotation.gtf", out_dir / "predictions",
                       out_dir / "sites.tsv", out_dir / GENOME_CARD, counts)
