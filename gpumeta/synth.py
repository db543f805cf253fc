"""Synthetic splice data, so every part of gpumeta runs with no external data.

Two products, both deterministic for a seed:

* `synth_genome` writes the inputs of ``gpumeta build``: a FASTA genome (+ ``.fai``), a GTF annotation,
  a base model's per-nucleotide predictions (Parquet) and the truth (``sites.tsv``).
* `synth_dataset` writes a ready training dataset in the contract of `gpumeta.schema` and the original
  MetaSpliceAI layout (``master/batch_*.parquet``, ``gene_manifest.csv``, ``dataset_card.json``), fast and
  streamed batch by batch, for tests and benchmarks (``preset="metaspliceai-large"`` has the shape of the
  original's largest dataset).

Site convention (shared with the builder): a true site is the exonic base next to the intron, in
transcript orientation: donor = last base of a non-last exon, acceptor = first base of a non-first exon.
The intron therefore starts with GT and ends with AG on the transcript strand.

Error model of the synthetic base model (knobs in `ErrorModel`). Offsets below are in transcript
orientation relative to the site (+1 = first intron base after a donor, -1 = last intron base before an
acceptor). The base model "reads" only the core dinucleotide and a strength cue; real sites also carry a
signature it ignores, which is what a meta-model can learn from sequence:

* real donors: GT at +1/+2 and the signature R A G T at +3..+6; real acceptors: AG at -2/-1, a pyrimidine
  at -3, G at the site, and a polypyrimidine tract at -18..-5. The core dinucleotide is always there;
  each signature base only with probability ``signature_fidelity`` (else the background base), so the
  evidence is statistical, never certain.
* strong sites (most): a sharp peak at the site, ``strong_peak`` high, tiny shoulders at +-1, +-2.
* weak sites (``weak_site_rate``): the base model's strength cue is absent (donor: no consensus AG on the
  exon side at -1/0; acceptor: a weak polypyrimidine tract), so the peak is low (``weak_peak``, below
  0.5): false negatives, recognisable by the signature.
* shifted peaks (``shift_rate`` of strong sites): the maximum sits 1-2 nt away; the site itself keeps
  ``shifted_site_ratio`` of it: a false negative plus a false positive next door, recognisable by where
  the motif sits relative to the peak.
* cryptic sites (``cryptic_per_kb`` in genomes, ``cryptic_per_site`` in datasets): GT/AG with the base
  model's strength cue but leaning against the signature (donor: C/T at +4 and no G at +5; acceptor: a
  purine at -3 and no G at the site, each with ``signature_fidelity``), peaks ``cryptic_peak`` (0.5-0.9):
  false positives.
* bumps (``bumps_per_kb`` / ``bumps_per_site``): moderate peaks (``bump_peak``) at ordinary GT/AG
  dinucleotides: hard negatives that a tuned threshold cannot separate from weak sites.
* background: log-normal, piled near 0 (``background_log10``), higher next to a GT (donor stream) or AG
  (acceptor stream) dinucleotide (``motif_background_log10``), capped at ``background_cap``.

No single feature gives the label away: a weak site and a bump look alike to the base model, and a
cryptic site carries the same core dinucleotide and strength cue as a real one.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import __version__
from .atomic import atomic_dir, write_csv, write_json, write_parquet, write_text
from .errors import GpumetaError
from .features import (
    GENE_STRUCTURE_COLUMNS,
    NUCLEOTIDES,
    OFFSETS,
    SITE_TYPES,
    derived_features,
    kmer_names,
    positional_nucleotide_names,
)
from .schema import LABELS

GENOME_CARD = "synth_card.json"
DATASET_CARD = "dataset_card.json"

# Bases are codes 0..3 in NUCLEOTIDES order (A, C, G, T), so the complement of code c is 3 - c.
_A, _C, _G, _T = range(4)
_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)
_BACKGROUND_BASE_FREQ = np.array([0.28, 0.22, 0.22, 0.28])

# Motifs: {offset from the site: allowed bases}, transcript orientation.
# Core dinucleotides are always written (the site convention); signatures (what tells a real site from a
# cryptic one) only with probability ErrorModel.signature_fidelity per base, so evidence is never certain.
_DONOR_CORE = {1: "G", 2: "T"}
_DONOR_SIGNATURE = {3: "AG", 4: "A", 5: "G", 6: "T"}
_DONOR_ANTI_SIGNATURE = {4: "CT", 5: "ACT"}
_DONOR_STRONG_EXON = {-1: "A", 0: "G"}
_DONOR_WEAK_EXON = {-1: "CT", 0: "ACT"}
_ACCEPTOR_CORE = {-2: "A", -1: "G"}
_ACCEPTOR_SIGNATURE = {-3: "CT", 0: "G"}
_ACCEPTOR_ANTI_SIGNATURE = {-3: "AG", 0: "ACT"}
_PPT_OFFSETS = range(-18, -4)
_STRONG_PPT_PYRIMIDINE = 0.9
#: How far a motif reaches from its site (the polypyrimidine tract upstream, the donor signature downstream).
_MOTIF_REACH = (-18, 6)


@dataclass(frozen=True)
class ErrorModel:
    """How the synthetic base model errs (see the module docstring). Ranges are (low, high)."""

    strong_peak: tuple[float, float] = (0.75, 0.99)
    weak_site_rate: float = 0.12
    weak_peak: tuple[float, float] = (0.10, 0.45)
    weak_ppt_pyrimidine: float = 0.35
    shift_rate: float = 0.06
    shifted_site_ratio: tuple[float, float] = (0.2, 0.6)
    cryptic_peak: tuple[float, float] = (0.5, 0.9)
    cryptic_per_kb: float = 0.5
    cryptic_per_site: float = 0.15
    bump_peak: tuple[float, float] = (0.15, 0.45)
    bumps_per_kb: float = 2.0
    bumps_per_site: float = 0.6
    background_log10: tuple[float, float] = (-4.5, 0.5)
    motif_background_log10: tuple[float, float] = (-3.0, 0.7)
    background_cap: float = 0.1
    signature_fidelity: float = 0.5

    def __post_init__(self) -> None:
        for field in ("strong_peak", "weak_peak", "shifted_site_ratio", "cryptic_peak", "bump_peak"):
            low, high = getattr(self, field)
            if not 0 <= low <= high <= 1:
                raise GpumetaError(f"error model {field}=({low}, {high}): need 0 <= low <= high <= 1")
        for field in ("weak_site_rate", "weak_ppt_pyrimidine", "shift_rate", "background_cap",
                      "signature_fidelity"):
            if not 0 <= getattr(self, field) <= 1:
                raise GpumetaError(f"error model {field}={getattr(self, field)}: need a value in [0, 1]")
        for field in ("cryptic_per_kb", "cryptic_per_site", "bumps_per_kb", "bumps_per_site"):
            if not 0 <= getattr(self, field) < 1000:
                raise GpumetaError(f"error model {field}={getattr(self, field)}: need a rate >= 0")
        for field in ("background_log10", "motif_background_log10"):
            mean, sd = getattr(self, field)
            if not (mean < 0 and sd >= 0):
                raise GpumetaError(f"error model {field}=({mean}, {sd}): need a negative log10 mean and sd >= 0")


# ---- shared sequence and score model (NumPy, flat arrays of base codes) ----------------------------------

def _random_bases(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.choice(4, size=shape, p=_BACKGROUND_BASE_FREQ).astype(np.uint8)


def _codes(bases: str) -> np.ndarray:
    return np.array([NUCLEOTIDES.index(b) for b in bases], dtype=np.uint8)


def _write_motif(flat: np.ndarray, sites: np.ndarray, motif: Mapping[int, str], rng: np.random.Generator,
                 fidelity: float = 1.0) -> None:
    """Write `motif` around every site (flat indices) of a flat base-code array.

    Each base follows the motif with probability `fidelity` and is left as it was otherwise.
    """
    for offset, allowed in motif.items():
        choices = _codes(allowed)
        follow = sites[rng.random(sites.size) < fidelity] if fidelity < 1 else sites
        flat[follow + offset] = choices[rng.integers(len(choices), size=follow.size)]


def _write_ppt(flat: np.ndarray, sites: np.ndarray, pyrimidine: float, rng: np.random.Generator) -> None:
    """A polypyrimidine tract upstream of acceptors: each base C/T with probability `pyrimidine`."""
    for offset in _PPT_OFFSETS:
        is_pyr = rng.random(sites.size) < pyrimidine
        pyr = np.where(rng.random(sites.size) < 0.5, _C, _T)
        flat[sites + offset] = np.where(is_pyr, pyr, _random_bases(rng, sites.size))


def _write_site_motifs(flat: np.ndarray, sites: np.ndarray, site_type: str, weak: np.ndarray,
                       em: ErrorModel, rng: np.random.Generator) -> None:
    """Real sites: core and (mostly) signature; the base model's strength cue only where not weak."""
    if site_type == "donor":
        _write_motif(flat, sites, _DONOR_CORE, rng)
        _write_motif(flat, sites, _DONOR_SIGNATURE, rng, em.signature_fidelity)
        _write_motif(flat, sites[~weak], _DONOR_STRONG_EXON, rng)
        _write_motif(flat, sites[weak], _DONOR_WEAK_EXON, rng)
    else:
        _write_ppt(flat, sites[~weak], _STRONG_PPT_PYRIMIDINE, rng)
        _write_ppt(flat, sites[weak], em.weak_ppt_pyrimidine, rng)
        _write_motif(flat, sites, _ACCEPTOR_CORE, rng)
        _write_motif(flat, sites, _ACCEPTOR_SIGNATURE, rng, em.signature_fidelity)


def _write_cryptic_motifs(flat: np.ndarray, sites: np.ndarray, site_type: str, em: ErrorModel,
                          rng: np.random.Generator) -> None:
    """Cryptic sites: core and strength cue (the base model is fooled), (mostly) against the signature."""
    if site_type == "donor":
        _write_motif(flat, sites, {**_DONOR_STRONG_EXON, **_DONOR_CORE}, rng)
        _write_motif(flat, sites, _DONOR_ANTI_SIGNATURE, rng, em.signature_fidelity)
    else:
        _write_ppt(flat, sites, _STRONG_PPT_PYRIMIDINE, rng)
        _write_motif(flat, sites, _ACCEPTOR_CORE, rng)
        _write_motif(flat, sites, _ACCEPTOR_ANTI_SIGNATURE, rng, em.signature_fidelity)


def _has_core(seq: np.ndarray, site_type: str) -> np.ndarray:
    """Per position of a 1-D or 2-D (rows x positions) code array: does the core dinucleotide sit there?

    Donor: GT at +1/+2; acceptor: AG at -2/-1 (False where the pair runs off the end).
    """
    out = np.zeros(seq.shape, dtype=bool)
    if site_type == "donor":
        out[..., :-2] = (seq[..., 1:-1] == _G) & (seq[..., 2:] == _T)
    else:
        out[..., 2:] = (seq[..., :-2] == _A) & (seq[..., 1:-1] == _G)
    return out


def _background(seq: np.ndarray, site_type: str, em: ErrorModel, rng: np.random.Generator) -> np.ndarray:
    """Sequence-dependent background probabilities of one stream, piled near 0 like SpliceAI's."""
    core = _has_core(seq, site_type)
    mean = np.where(core, em.motif_background_log10[0], em.background_log10[0])
    sd = np.where(core, em.motif_background_log10[1], em.background_log10[1])
    return np.minimum(10.0 ** (mean + sd * rng.standard_normal(seq.shape)), em.background_cap)


def _place_peaks(stream: np.ndarray, peaks: np.ndarray, height: np.ndarray, rng: np.random.Generator) -> None:
    """Sharp peaks at flat indices `peaks` with small shoulders at +-1 and +-2, as SpliceAI's."""
    for offset, (low, high) in ((-2, (0.001, 0.01)), (-1, (0.005, 0.03)), (1, (0.005, 0.03)), (2, (0.001, 0.01))):
        np.maximum.at(stream, peaks + offset, height * rng.uniform(low, high, peaks.size))
    stream[peaks] = height


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(bounds[0], bounds[1], n)


def _shift_offsets(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array([-2, -1, 1, 2]), size=n)


def _place_site_peaks(stream: np.ndarray, sites: np.ndarray, weak: np.ndarray, shift: np.ndarray,
                      em: ErrorModel, rng: np.random.Generator) -> None:
    """Peaks of real sites: strong, weak (low) or shifted (the maximum 1-2 nt away, `shift` != 0)."""
    height = np.where(weak, _uniform(rng, em.weak_peak, sites.size), _uniform(rng, em.strong_peak, sites.size))
    _place_peaks(stream, sites + shift, height, rng)
    shifted = shift != 0
    stream[sites[shifted]] = height[shifted] * _uniform(rng, em.shifted_site_ratio, int(shifted.sum()))


def _to_probabilities(donor: np.ndarray, acceptor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(donor, acceptor, neither) float32 summing to 1 (donor + acceptor scaled down where they exceed it)."""
    total = donor + acceptor
    scale = np.where(total > 0.999, 0.999 / np.maximum(total, 1e-12), 1.0)
    d = (donor * scale).astype(np.float32)
    a = (acceptor * scale).astype(np.float32)
    n = np.clip(1.0 - d.astype(np.float64) - a.astype(np.float64), 0.0, 1.0).astype(np.float32)
    return d, a, n


def _prepare_out_dir(out_dir: Path, card: str) -> None:
    """Refuse to replace a non-empty directory that is not an earlier output of the same kind."""
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / card).exists())):
        raise GpumetaError(f"output {out_dir}: exists and is not an earlier synth output (no {card}); "
                           "choose a new or empty directory")


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise GpumetaError(f"{name}={value!r}: need an integer >= {minimum}")
    return int(value)


def _check_seed(seed: int) -> int:
    return _check_count("seed", seed, 0)


# ---- product 1: genome + annotation + predictions --------------------------------------------------------

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


# ---- product 2: a ready training dataset -----------------------------------------------------------------

#: Named shapes. "metaspliceai-large": the original's largest dataset, 9,280 genes, about 3.7 M rows and
#: 1,167 feature columns (3-mers + 5-mers + 79 others).
PRESETS: dict[str, dict] = {
    "metaspliceai-large": {"n_genes": 9280, "rows_per_gene": 402, "kmer_sizes": (3, 5), "window": 1},
}

SEQUENCE_STAT_COLUMNS: tuple[str, ...] = ("gc_content", "sequence_length", "sequence_complexity", "gc_skew",
                                          "cpg_count")
#: Half-width of the nucleotide window k-mers are counted over (the row's sequence: 2 * 10 + 1 = 21 nt).
KMER_WINDOW = 10
STRATA: tuple[str, ...] = ("site", "call", "hard", "window", "easy")

# Cluster kinds of the dataset generator: a site/cryptic cluster emits 5 rows (the anchor and +-1, +-2);
# the others one row.
_SITE, _CRYPTIC, _BUMP, _WINDOW, _EASY = range(5)
_CONTEXT_SHIFT = {"m2": -2, "m1": -1, "p1": 1, "p2": 2}
_NEIGHBOURHOOD_SLOTS = 15  # window rows sit within 15 slots of 5 nt (75 nt) of an anchor


def dataset_feature_columns(kmer_sizes: tuple[int, ...] = (3,), window: int = 10) -> list[str]:
    """Feature columns `synth_dataset` writes, in order (everything not metadata or label-derived)."""
    context = [f"{t}_context_{o}" for t in SITE_TYPES for o in OFFSETS]
    dummy = np.zeros(1)
    derived = list(derived_features(dummy, dummy, dummy, {t: {o: dummy for o in OFFSETS} for t in SITE_TYPES},
                                    np))
    kmers = [name for k in kmer_sizes for name in kmer_names(k)]
    return ["donor_score", "acceptor_score", "neither_score", *context, *derived, *kmers,
            *SEQUENCE_STAT_COLUMNS, *positional_nucleotide_names(window), *GENE_STRUCTURE_COLUMNS]


def _resolve_dataset_args(n_genes, rows_per_gene, preset, kmer_sizes, window, genes_per_batch,
                          site_fraction) -> dict:
    settings = {"n_genes": 1000, "rows_per_gene": 400, "kmer_sizes": (3,), "window": 10}
    if preset is not None:
        if preset not in PRESETS:
            raise GpumetaError(f"unknown preset {preset!r}: use one of {', '.join(PRESETS)}")
        settings.update(PRESETS[preset])
    for key, value in (("n_genes", n_genes), ("rows_per_gene", rows_per_gene), ("kmer_sizes", kmer_sizes),
                       ("window", window)):
        if value is not None:
            settings[key] = value
    settings["n_genes"] = _check_count("n_genes", settings["n_genes"], 2)
    settings["rows_per_gene"] = _check_count("rows_per_gene", settings["rows_per_gene"], 40)
    settings["window"] = _check_count("window", settings["window"], 0)
    sizes = tuple(settings["kmer_sizes"])
    if not sizes or len(set(sizes)) != len(sizes) or not all(
            isinstance(k, (int, np.integer)) and 1 <= k <= 6 for k in sizes):
        raise GpumetaError(f"kmer_sizes={sizes}: need distinct integer sizes between 1 and 6")
    settings["kmer_sizes"] = tuple(sorted(int(k) for k in sizes))
    settings["genes_per_batch"] = _check_count("genes_per_batch", genes_per_batch, 1)
    if not 0.01 <= site_fraction <= 0.3:
        raise GpumetaError(f"site_fraction={site_fraction}: need a fraction of site rows in [0.01, 0.3]")
    settings["site_fraction"] = float(site_fraction)
    settings["preset"] = preset
    return settings


def _gene_table(n_genes: int, rows_per_gene: int, site_fraction: float, em: ErrorModel,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-gene plan: row budget per stratum, structure, and coordinates (a few overlapping pairs)."""
    spread = rows_per_gene // 4
    rows = rows_per_gene + rng.integers(-spread, spread + 1, n_genes)
    n_introns = np.maximum(1, np.round(rows * site_fraction / 2 * rng.uniform(0.6, 1.4, n_genes))).astype(np.int64)
    n_sites = 2 * n_introns
    n_cryptic = rng.poisson(em.cryptic_per_site * n_sites)
    n_bumps = rng.poisson(em.bumps_per_site * n_sites)
    rest = np.maximum(rows - 5 * (n_sites + n_cryptic) - n_bumps, 2)
    n_window = rest // 2
    n_easy = rest - n_window
    n_rows = 5 * (n_sites + n_cryptic) + n_bumps + n_window + n_easy

    num_exons = n_introns + 1
    # Exon and intron lengths: log-normal like real genes (median exon ~130 nt, intron ~1.5 kb).
    exon_len = np.exp(rng.normal(np.log(130), 0.5, (n_genes, int(num_exons.max()))))
    exon_mask = np.arange(exon_len.shape[1])[None, :] < num_exons[:, None]
    exon_len = np.where(exon_mask, np.maximum(exon_len, 30), np.nan)
    total_exon = np.nansum(exon_len, axis=1)
    intron_total = np.exp(rng.normal(np.log(1500), 0.8, n_genes)) * n_introns
    # Enough room for non-overlapping 5-nt slots of every cluster (and then some).
    gene_length = np.maximum(np.round(total_exon + intron_total), 12 * n_rows + 200).astype(np.int64)

    n_chrom = min(22, max(1, n_genes // 2))
    chrom_index = np.arange(n_genes) * n_chrom // n_genes
    strand = np.where(rng.random(n_genes) < 0.5, "+", "-")
    overlaps_previous = rng.random(n_genes) < 0.02
    overlaps_previous[0] = False
    overlaps_previous[1] = True  # at least one overlapping pair, always
    overlaps_previous[1:] &= chrom_index[1:] == chrom_index[:-1]
    gene_start = np.empty(n_genes, dtype=np.int64)
    cursor = 0
    for i in range(n_genes):
        if i == 0 or chrom_index[i] != chrom_index[i - 1]:
            cursor = int(rng.integers(5_000, 50_000))
        if overlaps_previous[i]:
            strand[i] = "-" if strand[i - 1] == "+" else "+"
            gene_start[i] = cursor - int(rng.integers(100, min(gene_length[i - 1], gene_length[i]) // 2))
        else:
            gene_start[i] = cursor + int(rng.integers(2_000, 50_000))
        cursor = gene_start[i] + gene_length[i] - 1
    gene_end = gene_start + gene_length - 1
    num_overlaps = np.zeros(n_genes, dtype=np.int64)
    for c in range(n_chrom):
        idx = np.flatnonzero(chrom_index == c)
        s, e = gene_start[idx], gene_end[idx]
        hit = (s[:, None] <= e[None, :]) & (e[:, None] >= s[None, :])
        num_overlaps[idx] = hit.sum(axis=1) - 1
    return {
        "gene_id": np.array([f"SYNG{i + 1:05d}" for i in range(n_genes)]),
        "chrom": np.array([str(c + 1) for c in chrom_index]),
        "strand": strand, "gene_start": gene_start, "gene_end": gene_end,
        "n_sites": n_sites, "n_cryptic": n_cryptic, "n_bumps": n_bumps, "n_window": n_window, "n_easy": n_easy,
        "n_rows": n_rows,
        "gene_length": gene_length, "transcript_length": np.round(total_exon).astype(np.int64),
        "num_exons": num_exons, "avg_exon_length": total_exon / num_exons,
        "median_exon_length": np.nanmedian(exon_len, axis=1), "total_exon_length": np.round(total_exon),
        "total_intron_length": gene_length - np.round(total_exon), "n_splice_sites": n_sites,
        "num_overlaps": num_overlaps,
    }


def _allocate_slots(genes: dict[str, np.ndarray], batch: np.ndarray, rng: np.random.Generator):
    """Per cluster: (gene index, kind, slot). Slots are 5-nt bins of a gene; clusters never share one."""
    gene_idx, kinds, slots = [], [], []
    for g in batch:
        n_slots = int(genes["gene_length"][g]) // 5
        interior = n_slots - 2  # keep +-2 contexts inside the gene
        n_anchor = int(genes["n_sites"][g] + genes["n_cryptic"][g] + genes["n_bumps"][g])
        anchors = 1 + rng.choice(interior, size=n_anchor, replace=False)
        used = np.zeros(n_slots, dtype=bool)
        used[[0, n_slots - 1]] = True
        used[anchors] = True
        near_mask = np.zeros(n_slots, dtype=bool)
        near = (anchors[:, None] + np.arange(-_NEIGHBOURHOOD_SLOTS, _NEIGHBOURHOOD_SLOTS + 1)[None, :]).ravel()
        near_mask[np.clip(near, 0, n_slots - 1)] = True
        near = np.flatnonzero(near_mask & ~used)
        window = rng.choice(near, size=min(int(genes["n_window"][g]), near.size), replace=False)
        used[window] = True
        free = np.flatnonzero(~used)
        n_easy = int(genes["n_easy"][g]) + int(genes["n_window"][g]) - window.size
        easy = rng.choice(free, size=n_easy, replace=False)
        kind = np.concatenate([
            np.full(int(genes["n_sites"][g]), _SITE), np.full(int(genes["n_cryptic"][g]), _CRYPTIC),
            np.full(int(genes["n_bumps"][g]), _BUMP), np.full(window.size, _WINDOW), np.full(n_easy, _EASY)])
        gene_idx.append(np.full(kind.size, g))
        kinds.append(kind)
        slots.append(np.concatenate([anchors, window, easy]))
    return np.concatenate(gene_idx), np.concatenate(kinds), np.concatenate(slots).astype(np.int64)


def _cluster_tracks(kind: np.ndarray, gene_idx: np.ndarray, half: int, em: ErrorModel,
                    rng: np.random.Generator):
    """Sequence (clusters x 2*half+1) and per-type score streams at offsets -4..+4 of each cluster.

    Site clusters alternate donor, acceptor within a gene (introns: donor then acceptor).
    """
    n = kind.size
    width = 2 * half + 1
    seq = _random_bases(rng, (n, width))
    flat = seq.reshape(-1)
    centre = np.arange(n) * width + half
    # Site type per anchor cluster: sites alternate donor/acceptor; cryptic sites and bumps at random.
    first_of_gene = np.r_[0, np.flatnonzero(np.diff(gene_idx)) + 1]
    rank = np.arange(n) - np.repeat(first_of_gene, np.diff(np.r_[first_of_gene, n]))
    is_donor = np.where(kind == _SITE, rank % 2 == 0, rng.random(n) < 0.5)
    weak = (kind == _SITE) & (rng.random(n) < em.weak_site_rate)
    shift = np.where((kind == _SITE) & ~weak & (rng.random(n) < em.shift_rate), _shift_offsets(rng, n), 0)
    streams = {}
    # Streams at offsets -4..+4; their background needs the bases 2 nt beyond (core dinucleotides).
    around = seq[:, half - 6:half + 7]
    cols = np.arange(2, 11)
    for site_type, of_type in (("donor", is_donor), ("acceptor", ~is_donor)):
        site = np.flatnonzero((kind == _SITE) & of_type)
        cryptic = np.flatnonzero((kind == _CRYPTIC) & of_type)
        bump = np.flatnonzero((kind == _BUMP) & of_type)
        _write_site_motifs(flat, centre[site], site_type, weak[site], em, rng)
        _write_cryptic_motifs(flat, centre[cryptic], site_type, em, rng)
        _write_motif(flat, centre[bump], _DONOR_CORE if site_type == "donor" else _ACCEPTOR_CORE, rng)
    for site_type, of_type in (("donor", is_donor), ("acceptor", ~is_donor)):
        # Background from the final bases (every motif is written first), then peaks on top.
        stream = _background(around, site_type, em, rng)[:, cols].reshape(-1)
        row_centre = np.arange(n) * cols.size + 4
        site = np.flatnonzero((kind == _SITE) & of_type)
        cryptic = np.flatnonzero((kind == _CRYPTIC) & of_type)
        bump = np.flatnonzero((kind == _BUMP) & of_type)
        _place_peaks(stream, row_centre[bump], _uniform(rng, em.bump_peak, bump.size), rng)
        _place_peaks(stream, row_centre[cryptic], _uniform(rng, em.cryptic_peak, cryptic.size), rng)
        _place_site_peaks(stream, row_centre[site], weak[site], shift[site], em, rng)
        streams[site_type] = stream.reshape(n, cols.size)
    return seq, streams, is_donor


def _kmer_counts(windows: np.ndarray, k: int) -> np.ndarray:
    """Counts of every k-mer (lexicographic, as kmer_names) in each row of a code matrix."""
    n, width = windows.shape
    out = np.zeros((n, 4 ** k), dtype=np.float32)
    rows = np.arange(n)
    code = np.zeros((n, width - k + 1), dtype=np.int64)
    for j in range(k):
        code = code * 4 + windows[:, j:j + width - k + 1]
    for j in range(code.shape[1]):
        out[rows, code[:, j]] += 1
    return out


def _sequence_stats(windows: np.ndarray) -> dict[str, np.ndarray]:
    counts = np.stack([(windows == b).sum(axis=1) for b in range(4)], axis=1).astype(np.float32)
    length = np.float32(windows.shape[1])
    freq = counts / length
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(freq > 0, freq * np.log2(freq), 0.0), axis=1)
    g, c = counts[:, _G], counts[:, _C]
    return {
        "gc_content": (g + c) / length,
        "sequence_length": np.full(windows.shape[0], length, dtype=np.float32),
        "sequence_complexity": entropy.astype(np.float32),
        "gc_skew": np.where(g + c > 0, (g - c) / np.maximum(g + c, 1), 0).astype(np.float32),
        "cpg_count": ((windows[:, :-1] == _C) & (windows[:, 1:] == _G)).sum(axis=1).astype(np.float32),
    }


def _batch_table(genes: dict[str, np.ndarray], batch: np.ndarray, settings: dict, em: ErrorModel,
                 rng: np.random.Generator) -> pa.Table:
    """All rows of a batch of genes as an Arrow table, sorted by gene then gene-relative position."""
    window = settings["window"]
    half = max(window, KMER_WINDOW, -_MOTIF_REACH[0], _MOTIF_REACH[1]) + 4
    gene_idx, kind, slot = _allocate_slots(genes, batch, rng)
    seq, streams, is_donor = _cluster_tracks(kind, gene_idx, half, em, rng)

    anchored = (kind == _SITE) | (kind == _CRYPTIC)
    per_cluster = np.where(anchored, 5, 1)
    cluster = np.repeat(np.arange(kind.size), per_cluster)
    starts = np.cumsum(per_cluster) - per_cluster
    offset = np.where(anchored[cluster], np.arange(cluster.size) - starts[cluster] - 2, 0)
    jitter = np.where(anchored[cluster], 0, rng.integers(-2, 3, cluster.size))
    gene = gene_idx[cluster]
    position = slot[cluster] * 5 + 2 + offset + jitter  # gene-relative, 0 = the transcript's 5' end

    col = 4 + offset
    scores = {t: streams[t][cluster, col].astype(np.float64) for t in SITE_TYPES}
    d, a, n = _to_probabilities(scores["donor"], scores["acceptor"])
    context = {t: {o: streams[t][cluster, col + s].astype(np.float32) for o, s in _CONTEXT_SHIFT.items()}
               for t in SITE_TYPES}

    is_site_row = (kind[cluster] == _SITE) & (offset == 0)
    label = np.where(is_site_row, np.where(is_donor[cluster], 1, 2), 0)
    called = np.maximum(d, a) >= 0.5
    own_score = np.where(label == 1, d, a)
    pred_type = np.where(label > 0, np.where(own_score >= 0.5, "TP", "FN"), np.where(called, "FP", "TN"))
    stratum = np.select(
        [label > 0, called, np.maximum(d, a) >= 0.15, kind[cluster] == _EASY],
        ["site", "call", "hard", "easy"], "window")
    easy_pool = genes["gene_length"] - 5 * (genes["n_sites"] + genes["n_cryptic"]) - genes["n_bumps"] \
        - genes["n_window"]
    inclusion = np.where(stratum == "easy", genes["n_easy"][gene] / np.maximum(easy_pool[gene], genes["n_easy"][gene]),
                         1.0)

    centre_col = half + offset + jitter
    nt_window = seq[cluster[:, None], centre_col[:, None] + np.arange(-window, window + 1)[None, :]]
    kmer_window = seq[cluster[:, None], centre_col[:, None] + np.arange(-KMER_WINDOW, KMER_WINDOW + 1)[None, :]]

    plus = genes["strand"][gene] == "+"
    gene_start, gene_end = genes["gene_start"][gene], genes["gene_end"][gene]
    gene_ids = genes["gene_id"][gene]
    # Sites belong to the gene's first transcript; the original leaves transcript_id empty elsewhere.
    transcript_of_gene = np.char.add(np.char.replace(genes["gene_id"], "SYNG", "SYNT"), ".1")
    transcript = np.where(label > 0, transcript_of_gene[gene], "")
    columns: dict[str, object] = {
        "gene_id": gene_ids, "transcript_id": transcript, "position": position.astype(np.int64),
        "absolute_position": np.where(plus, gene_start + position, gene_end - position).astype(np.int64),
        "chrom": genes["chrom"][gene], "strand": genes["strand"][gene],
        "gene_start": gene_start, "gene_end": gene_end,
        "splice_type": np.array(LABELS)[label], "pred_type": pred_type,
        "sampling_stratum": stratum, "inclusion_prob": inclusion.astype(np.float32),
        "donor_score": d, "acceptor_score": a, "neither_score": n,
    }
    for t in SITE_TYPES:
        for o in OFFSETS:
            columns[f"{t}_context_{o}"] = context[t][o]
    for name, values in derived_features(d, a, n, context, np).items():
        columns[name] = values.astype(np.float32, copy=False)
    for k in settings["kmer_sizes"]:
        counts = np.asfortranarray(_kmer_counts(kmer_window, k))
        for j, name in enumerate(kmer_names(k)):
            columns[name] = counts[:, j]
    columns.update(_sequence_stats(kmer_window))
    one_hot = np.asfortranarray((nt_window[:, :, None] == np.arange(4)[None, None, :])
                                .reshape(len(cluster), -1).astype(np.float32))
    for j, name in enumerate(positional_nucleotide_names(window)):
        columns[name] = one_hot[:, j]
    for name in GENE_STRUCTURE_COLUMNS[:-2]:
        columns[name] = genes[name][gene].astype(np.float32)
    columns["distance_to_start"] = position.astype(np.float32)
    columns["distance_to_end"] = (genes["gene_length"][gene] - 1 - position).astype(np.float32)

    order = np.lexsort((position, gene))
    return pa.table({name: pa.array(values) for name, values in columns.items()}).take(pa.array(order))


def _batches(n_genes: int, genes_per_batch: int) -> Iterator[np.ndarray]:
    for start in range(0, n_genes, genes_per_batch):
        yield np.arange(start, min(start + genes_per_batch, n_genes))


def synth_dataset(out_dir: str | Path, n_genes: int | None = None, seed: int = 0,
                  rows_per_gene: int | None = None, preset: str | None = None, *,
                  kmer_sizes: tuple[int, ...] | None = None, window: int | None = None,
                  genes_per_batch: int = 250, site_fraction: float = 0.125,
                  error_model: ErrorModel | None = None) -> Path:
    """Write a ready training dataset (no genome needed) into `out_dir`; return `out_dir`.

    Defaults: 1,000 genes, ~400 rows per gene (site rows ~`site_fraction`), 3-mers, positional
    nucleotides at -10..+10. `preset` sets a named shape (`PRESETS`); explicit arguments override it.
    Batches of `genes_per_batch` genes are generated and written one at a time (memory is bounded by one
    batch), each to ``master/batch_NNNNN.parquet``; the directory appears complete or not at all.
    """
    import pandas as pd

    settings = _resolve_dataset_args(n_genes, rows_per_gene, preset, kmer_sizes, window, genes_per_batch,
                                     site_fraction)
    seed = _check_seed(seed)
    em = error_model or ErrorModel()
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir, DATASET_CARD)
    n_batches = math.ceil(settings["n_genes"] / settings["genes_per_batch"])
    gene_ss, *batch_ss = np.random.SeedSequence(seed).spawn(1 + n_batches)
    genes = _gene_table(settings["n_genes"], settings["rows_per_gene"], settings["site_fraction"], em,
                        np.random.default_rng(gene_ss))

    files = np.empty(settings["n_genes"], dtype=object)
    class_counts = {label: 0 for label in LABELS}
    pred_counts = {p: 0 for p in ("TP", "FP", "FN", "TN")}
    strata_counts = {s: 0 for s in STRATA}
    n_rows = 0
    with atomic_dir(out_dir) as tmp:
        for b, (batch, ss) in enumerate(zip(_batches(settings["n_genes"], settings["genes_per_batch"]), batch_ss)):
            table = _batch_table(genes, batch, settings, em, np.random.default_rng(ss))
            name = f"master/batch_{b + 1:05d}.parquet"
            write_parquet(tmp / name, table)
            files[batch] = name
            n_rows += table.num_rows
            for column, tally in (("splice_type", class_counts), ("pred_type", pred_counts),
                                  ("sampling_stratum", strata_counts)):
                for value, count in zip(*np.unique(table.column(column).to_numpy(zero_copy_only=False),
                                                   return_counts=True)):
                    tally[str(value)] += int(count)
            del table
        manifest = pd.DataFrame({key: genes[key] for key in ("gene_id", "chrom", "strand", "gene_start",
                                                               "gene_end", "n_rows")})
        manifest["file"] = files
        write_csv(tmp / "gene_manifest.csv", manifest)
        features = dataset_feature_columns(settings["kmer_sizes"], settings["window"])
        write_json(tmp / DATASET_CARD, {
            "kind": "dataset", "generator": f"gpumeta.synth {__version__}",
            "parameters": {**settings, "seed": seed},
            "error_model": dataclasses.asdict(em),
            "n_genes": settings["n_genes"], "n_rows": n_rows, "n_batches": n_batches,
            "overlapping_genes": int((genes["num_overlaps"] > 0).sum()),
            "class_counts": class_counts, "pred_type_counts": pred_counts, "strata_counts": strata_counts,
            "n_features": len(features), "features": features,
            "note": "rows are sampled: easy negatives carry inclusion_prob < 1",
        })
    return out_dir


def read_card(out_dir: str | Path) -> dict:
    """The card of a synth output directory (genome or dataset)."""
    out_dir = Path(out_dir)
    for name in (DATASET_CARD, GENOME_CARD):
        if (out_dir / name).exists():
            return json.loads((out_dir / name).read_text())
    raise GpumetaError(f"{out_dir}: no {DATASET_CARD} or {GENOME_CARD}; not a synth output")
