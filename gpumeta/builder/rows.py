"""One gene's rows: labels, sampling and every feature column, computed with `backend.xp`.

The gene body is handled in transcript orientation: index i is the nucleotide i bases from the gene's
5' end, which is also the dataset's gene-relative `position` (pos - gene_start on '+', gene_end - pos on
'-'). Labels and strata cover the whole body (array code, O(length)); features are computed only for the
kept rows, in chunks of `chunk_rows`, each handed back as a block of host arrays; `assemble` turns the
blocks of many genes into one Arrow table of the fixed schema (per-gene tables would spend more time in
Arrow call overhead than in the features).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ..features import (
    GENE_STRUCTURE_COLUMNS,
    OFFSETS,
    SITE_TYPES,
    derived_features,
    kmer_names,
    offset_label,
    positional_nucleotide_names,
    shape_columns,
    shape_names,
)
from ..schema import LABELS
from .annotation import Gene, GeneSites
from .labelling import PRED_TYPES, label_stream, row_labels
from .params import BuildParams
from .partners import PARTNER_COLUMNS, partner_columns
from .sampling import STRATA, sample, strata
from .sequence import sequence_columns
from .site_strength import SITE_STRENGTH_COLUMNS, site_strength_columns

_STRING_COLUMNS = ("gene_id", "transcript_id", "chrom", "strand")
_INT_COLUMNS = ("position", "absolute_position", "gene_start", "gene_end", "tx_start", "tx_end")
_LABEL_COLUMNS = ("splice_type", "pred_type")


def context_offsets(width: int) -> list[int]:
    return [o for o in range(-width, width + 1) if o != 0]


def feature_columns(params: BuildParams) -> list[tuple[str, pa.DataType]]:
    """(name, type) of every feature column, in output order: scores and derived values float32,
    k-mer counts int16, one-hot bases int8 (small types: most of a row is sequence columns)."""
    context = [f"{t}_context_{offset_label(o)}" for t in SITE_TYPES for o in context_offsets(params.context_width)]
    derived = list(derived_features(*(np.zeros(1, np.float32) for _ in range(3)),
                                    {t: {o: np.zeros(1, np.float32) for o in OFFSETS} for t in SITE_TYPES}, np))
    floats = ["donor_score", "acceptor_score", "neither_score"] + context + derived + shape_names(params.shape_width)
    floats += list(SITE_STRENGTH_COLUMNS) if params.site_strength else []
    floats += list(PARTNER_COLUMNS) if params.partner_window else []
    kmers = [n for k in params.kmer_sizes for n in kmer_names(k)]
    return ([(c, pa.float32()) for c in floats] + [(c, pa.int16()) for c in kmers]
            + [(c, pa.int8()) for c in positional_nucleotide_names(params.seq_window)]
            + [(c, pa.float32()) for c in GENE_STRUCTURE_COLUMNS])


@functools.lru_cache(maxsize=8)
def output_schema(params: BuildParams) -> pa.Schema:
    fields = [pa.field(c, pa.string()) for c in _STRING_COLUMNS]
    fields += [pa.field(c, pa.int64()) for c in _INT_COLUMNS]
    fields += [pa.field(c, pa.string()) for c in _LABEL_COLUMNS]
    fields += [pa.field(c, t) for c, t in feature_columns(params)]
    fields += [pa.field("sampling_stratum", pa.string()), pa.field("inclusion_prob", pa.float32())]
    return pa.schema(fields)


@dataclass
class GeneSummary:
    """What one gene contributed: manifest fields and counts (for the card)."""

    n_rows: int = 0
    streams: dict[str, dict[str, int]] = field(default_factory=dict)
    splice_type: dict[str, int] = field(default_factory=dict)
    pred_type: dict[str, int] = field(default_factory=dict)
    sampling_stratum: dict[str, int] = field(default_factory=dict)


def site_indices(gene: Gene, positions: np.ndarray) -> np.ndarray:
    idx = positions - gene.start if gene.strand == "+" else gene.end - positions
    return np.sort(idx.astype(np.int64))


def _tally(names, codes: np.ndarray) -> dict[str, int]:
    counts = np.bincount(codes.astype(np.int64), minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts)}


def gene_rows(gene: Gene, sites: GeneSites, tracks, codes: np.ndarray, flank: int, structure: dict,
              params: BuildParams, backend, summary: GeneSummary) -> Iterator[dict]:
    """Blocks (see `_block`) of one gene's kept rows, chunked; fills `summary` as it goes."""
    xp = backend.xp
    d, a, n = (backend.asarray(t) for t in tracks)
    length = gene.length
    site_idx = {t: site_indices(gene, sites.positions(t)) for t in SITE_TYPES}
    streams = {t: label_stream(p, site_idx[t], params.threshold, params.window, backend)
               for t, p in (("donor", d), ("acceptor", a))}
    summary.streams = {t: s.counts for t, s in streams.items()}
    splice, pred = row_labels(streams["donor"], streams["acceptor"], xp)
    stratum = strata(splice, streams["donor"].called | streams["acceptor"].called, xp.maximum(d, a),
                     params.hard_prob, params.tn_window, xp)
    if params.all_positions:
        kept, inclusion = xp.arange(length), xp.ones(length, dtype=xp.float32)
    else:
        kept, inclusion = sample(stratum, params.easy_ratio, params.seed, gene.gene_id, backend)

    padded = padded_scores(d, a, params.score_pad, xp)
    sequence = backend.asarray(codes)
    track_cache: dict = {}
    site_tx = {t: dict(zip(site_idx[t].tolist(), _ordered_tx(gene, sites, t))) for t in SITE_TYPES}
    for lo in range(0, int(kept.shape[0]), params.chunk_rows):
        idx = kept[lo: lo + params.chunk_rows]
        cols = features_at((d, a, n), padded, sequence, flank, idx, length, structure, params, xp, track_cache)
        cols["inclusion_prob"] = inclusion[lo: lo + params.chunk_rows]
        yield _block(gene, structure, backend.to_host(idx), backend.to_host(splice[idx]),
                     backend.to_host(pred[idx]), backend.to_host(stratum[idx]), site_tx, cols, backend, summary)


def padded_scores(d, a, pad: int, xp) -> dict[str, object]:
    """Donor and acceptor tracks with `pad` zeros each side, so context at any offset is one gather (0 past
    the gene edge)."""
    zeros = xp.zeros(pad, dtype=xp.float32)
    return {"donor": xp.concatenate([zeros, d, zeros]), "acceptor": xp.concatenate([zeros, a, zeros])}


def features_at(tracks, padded: dict, sequence, flank: int, idx, length: int, structure: dict,
                params: BuildParams, xp, track_cache: dict) -> dict[str, object]:
    """{column: xp array} of every feature column at transcript indices `idx` of one gene or region: the one
    definition that `gpumeta build` and `gpumeta annotate` both use, so inference rebuilds training's features.

    `tracks` are the (donor, acceptor, neither) xp arrays in transcript order, `padded` their
    `padded_scores`; `sequence` holds `flank` bases each side; `track_cache` keeps whole-gene tracks (k-mer
    counts, partner maxima) between calls.
    """
    d, a, n = tracks
    pad = params.score_pad
    cols: dict[str, object] = {"donor_score": d[idx], "acceptor_score": a[idx], "neither_score": n[idx]}
    context: dict[str, dict] = {t: {} for t in SITE_TYPES}
    for t in SITE_TYPES:
        for o in context_offsets(params.context_width):
            context[t][offset_label(o)] = cols[f"{t}_context_{offset_label(o)}"] = padded[t][idx + pad + o]
    cols.update(derived_features(cols["donor_score"], cols["acceptor_score"], cols["neither_score"], context, xp))
    cols.update(shape_columns(padded, idx, pad, params.shape_width, xp))
    if params.site_strength:
        cols.update(site_strength_columns(sequence, idx, flank, xp))
    cols.update(partner_columns(d, a, idx, params.partner_window, xp, track_cache))
    cols.update(sequence_columns(sequence, idx, flank, params.kmer_sizes, params.kmer_window,
                                 params.seq_window, xp, track_cache))
    n_rows = int(idx.shape[0])
    for name in GENE_STRUCTURE_COLUMNS:
        if name in structure:
            cols[name] = xp.full(n_rows, structure[name], dtype=xp.float32)
    cols["distance_to_start"] = idx.astype(xp.float32)
    cols["distance_to_end"] = (length - 1 - idx).astype(xp.float32)
    return cols


def _ordered_tx(gene: Gene, sites: GeneSites, site_type: str) -> list[str]:
    """Transcript ids of a type's sites, in the order of `site_indices` (transcript order)."""
    positions = sites.positions(site_type)
    order = np.argsort(positions - gene.start if gene.strand == "+" else gene.end - positions, kind="stable")
    tx = sites.transcripts(site_type)
    return [tx[i] for i in order]


def _block(gene: Gene, structure: dict, idx: np.ndarray, splice: np.ndarray, pred: np.ndarray,
           stratum: np.ndarray, site_tx: dict, cols: dict, backend, summary: GeneSummary) -> dict:
    """Host arrays of one gene's rows: numeric columns, label codes, and transcript codes into
    `transcript_names` (0 = ""). `assemble` turns blocks of many genes into one Arrow table."""
    names, transcript = [""], np.zeros(len(idx), dtype=np.int64)
    for code, t in ((1, "donor"), (2, "acceptor")):
        for j in np.nonzero(splice == code)[0]:
            names.append(site_tx[t][int(idx[j])])
            transcript[j] = len(names) - 1
    for name, counts in (("splice_type", _tally(LABELS, splice)), ("pred_type", _tally(PRED_TYPES, pred)),
                         ("sampling_stratum", _tally(STRATA, stratum))):
        target = getattr(summary, name)
        for k, v in counts.items():
            target[k] = target.get(k, 0) + v
    summary.n_rows += len(idx)
    block = {name: backend.to_host(values) for name, values in cols.items()}
    block.update({
        "gene": gene, "tx_start": structure["tx_start"], "tx_end": structure["tx_end"], "n_rows": len(idx),
        "transcript_names": names, "transcript_id": transcript, "position": idx.astype(np.int64),
        "absolute_position": (gene.start + idx if gene.strand == "+" else gene.end - idx).astype(np.int64),
        "splice_type": splice, "pred_type": pred, "sampling_stratum": stratum,
    })
    return block


def _take(values, codes: np.ndarray) -> pa.Array:
    """Strings by code from a small dictionary: converting Python strings row by row costs more than
    every feature of the row together."""
    return pa.array(list(values), pa.string()).take(pa.array(codes))


def assemble(blocks: list[dict], params: BuildParams) -> pa.Table:
    """One Arrow table (the output schema) from the blocks of one or more genes."""
    schema = output_schema(params)
    counts = np.array([b["n_rows"] for b in blocks])
    gene_idx = np.repeat(np.arange(len(blocks)), counts)
    genes = [b["gene"] for b in blocks]
    offsets = np.cumsum([0] + [len(b["transcript_names"]) - 1 for b in blocks])
    tx_names = [""] + [n for b in blocks for n in b["transcript_names"][1:]]
    tx_codes = np.concatenate([np.where(b["transcript_id"] > 0, b["transcript_id"] + off, 0)
                               for b, off in zip(blocks, offsets)])
    per_gene = {
        "gene_id": [g.gene_id for g in genes], "chrom": [g.chrom for g in genes], "strand": [g.strand for g in genes],
        "gene_start": [g.start for g in genes], "gene_end": [g.end for g in genes],
        "tx_start": [b["tx_start"] for b in blocks], "tx_end": [b["tx_end"] for b in blocks],
    }
    coded = {"splice_type": LABELS, "pred_type": PRED_TYPES, "sampling_stratum": STRATA}
    arrays = []
    for f in schema:
        if f.name in ("gene_id", "chrom", "strand"):
            arrays.append(_take(per_gene[f.name], gene_idx))
        elif f.name in per_gene:
            arrays.append(pa.array(np.asarray(per_gene[f.name], dtype=np.int64)[gene_idx]))
        elif f.name == "transcript_id":
            arrays.append(_take(tx_names, tx_codes))
        elif f.name in coded:
            arrays.append(_take(coded[f.name], np.concatenate([b[f.name] for b in blocks])))
        else:
            arrays.append(pa.array(np.concatenate([b[f.name] for b in blocks]), type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)
