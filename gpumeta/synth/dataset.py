"""`synth_dataset`: a ready training dataset in the contract of `gpumeta.schema` and the original
MetaSpliceAI layout (master/batch_*.parquet, gene_manifest.csv, dataset_card.json), streamed batch by batch
for tests and benchmarks (preset "metaspliceai-large" has the shape of the original's largest dataset).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from .. import __version__
from ..atomic import atomic_dir, write_csv, write_json, write_parquet
from ..errors import GpumetaError
from ..features import (
    GENE_STRUCTURE_COLUMNS,
    OFFSETS,
    SITE_TYPES,
    derived_features,
    kmer_names,
    positional_nucleotide_names,
)
from ..schema import LABELS
from .common import DATASET_CARD, _check_count, _check_seed, _prepare_out_dir
from .error_model import (
    _ACCEPTOR_CORE,
    _C,
    _DONOR_CORE,
    _G,
    _MOTIF_REACH,
    ErrorModel,
    _background,
    _place_peaks,
    _place_site_peaks,
    _random_bases,
    _shift_offsets,
    _to_probabilities,
    _uniform,
    _write_cryptic_motifs,
    _write_motif,
    _write_site_motifs,
)

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
