"""Derived features of the original MetaSpliceAI system, computed on any array module (NumPy or CuPy).

Inputs are the base scores d, a, n of a position and, per site type, the probabilities of that type's
stream at offsets -2, -1, +1, +2 in transcript orientation (0 past the gene edge). The original used a
single context (the row's own stream) for both types' features; gpumeta rows stand for a nucleotide, not
a stream, so each type's features use its own stream. ``context_score_*`` (the original's names) is the
stream of the position's stronger type, so datasets keep the columns users know.
"""

from __future__ import annotations

from collections.abc import Mapping

EPS = 1e-10
OFFSETS: tuple[str, ...] = ("m2", "m1", "p1", "p2")
SITE_TYPES: tuple[str, ...] = ("donor", "acceptor")


def _context_features(prefix: str, s, c: Mapping[str, object], xp) -> dict[str, object]:
    m2, m1, p1, p2 = (c[o] for o in OFFSETS)
    nm = (m2 + m1 + p1 + p2) / 4
    cmax = xp.maximum(xp.maximum(m2, m1), xp.maximum(p1, p2))
    out = {f"{prefix}_diff_{o}": s - c[o] for o in OFFSETS}
    out.update({
        f"{prefix}_surge_ratio": s / (m1 + p1 + EPS),
        f"{prefix}_is_local_peak": ((s > m1) & (s > p1) & (s > 1e-3)).astype(s.dtype),
        f"{prefix}_weighted_context": 0.1 * m2 + 0.2 * m1 + 0.4 * s + 0.2 * p1 + 0.1 * p2,
        f"{prefix}_peak_height_ratio": s / (nm + EPS),
        f"{prefix}_second_derivative": (s - m1) - (p1 - s),
        f"{prefix}_signal_strength": s - nm,
        f"{prefix}_context_diff_ratio": s / (cmax + EPS),
    })
    return out


def derived_features(d, a, n, context: Mapping[str, Mapping[str, object]], xp) -> dict[str, object]:
    """All derived features as {name: array}.

    `context[t][o]` is type t's probability at offset o (t in SITE_TYPES, o in OFFSETS).
    """
    out: dict[str, object] = {}
    stronger = d >= a
    shared = {o: xp.where(stronger, context["donor"][o], context["acceptor"][o]) for o in OFFSETS}
    for o in OFFSETS:
        out[f"context_score_{o}"] = shared[o]
    smax = xp.maximum(d, a)
    out.update({
        "relative_donor_probability": d / (d + a + EPS),
        "splice_probability": (d + a) / (d + a + n + EPS),
        "donor_acceptor_diff": (d - a) / (smax + EPS),
        "splice_neither_diff": (smax - n) / (xp.maximum(smax, n) + EPS),
        "donor_acceptor_logodds": xp.log(d + EPS) - xp.log(a + EPS),
        "splice_neither_logodds": xp.log(d + a + EPS) - xp.log(n + EPS),
        "probability_entropy": -(d * xp.log(d + EPS) + a * xp.log(a + EPS) + n * xp.log(n + EPS)),
        "context_neighbor_mean": (shared["m2"] + shared["m1"] + shared["p1"] + shared["p2"]) / 4,
        "context_asymmetry": (shared["m1"] + shared["m2"]) - (shared["p1"] + shared["p2"]),
        "context_max": xp.maximum(xp.maximum(shared["m2"], shared["m1"]),
                                  xp.maximum(shared["p1"], shared["p2"])),
    })
    for t, s in (("donor", d), ("acceptor", a)):
        out.update(_context_features(t, s, context[t], xp))
    out.update({
        "donor_acceptor_peak_ratio": out["donor_peak_height_ratio"] / (out["acceptor_peak_height_ratio"] + EPS),
        "type_signal_difference": out["donor_signal_strength"] - out["acceptor_signal_strength"],
        "score_difference_ratio": (d - a) / (d + a + EPS),
        "signal_strength_ratio": out["donor_signal_strength"] / (out["acceptor_signal_strength"] + EPS),
    })
    return out


#: Score-shape statistics of one type's score over its neighbours within +-W (`{type}_shape_{stat}`).
SHAPE_STATS: tuple[str, ...] = ("max_diff", "mean_diff", "log_ratio", "second_diff", "is_max", "rank",
                                 "peak_offset", "other_max")


def shape_offsets(width: int) -> list[int]:
    """The neighbour offsets -W..-1, 1..W of the score-shape window."""
    return [o for o in range(-width, width + 1) if o != 0]


def window_values(padded, idx, pad: int, offsets: list[int], xp):
    """(rows, len(offsets)) of a zero-padded track (`pad` zeros each side) at idx + offset: one gather."""
    return padded[idx[:, None] + pad + xp.asarray(offsets, dtype=idx.dtype)[None, :]]


def shape_features(prefix: str, s, neighbours, other_neighbours, xp) -> dict[str, object]:
    """How a score stands out of its neighbourhood (`neighbours`: rows x 2W, offsets -W..-1, 1..W).

    The +-2 context features say whether a score is a peak among its nearest neighbours; a wider window
    separates a true site from a decoy a few nt away (NAGNAG-like tandem acceptors, donors shadowed by a
    stronger one): how far the strongest neighbour is, and how strong the other type is nearby.
    """
    width = neighbours.shape[1] // 2
    nmax = neighbours.max(axis=1)
    offsets = xp.asarray(shape_offsets(width), dtype=s.dtype)
    return {
        f"{prefix}_shape_max_diff": s - nmax,
        f"{prefix}_shape_mean_diff": s - neighbours.mean(axis=1),
        f"{prefix}_shape_log_ratio": xp.log(s + EPS) - xp.log(nmax + EPS),
        f"{prefix}_shape_second_diff": 2 * s - neighbours[:, 0] - neighbours[:, -1],
        f"{prefix}_shape_is_max": ((s >= nmax) & (s > 1e-3)).astype(s.dtype),
        f"{prefix}_shape_rank": (neighbours > s[:, None]).sum(axis=1).astype(s.dtype),
        f"{prefix}_shape_peak_offset": offsets[neighbours.argmax(axis=1)],
        f"{prefix}_shape_other_max": other_neighbours.max(axis=1),
    }


def shape_columns(tracks: Mapping[str, object], idx, pad: int, width: int, xp) -> dict[str, object]:
    """Every score-shape column at `idx` from zero-padded donor/acceptor tracks; none when width is 0."""
    if width == 0:
        return {}
    offsets = shape_offsets(width)
    windows = {t: window_values(tracks[t], idx, pad, offsets, xp) for t in SITE_TYPES}
    out: dict[str, object] = {}
    for t, other in (("donor", "acceptor"), ("acceptor", "donor")):
        own = tracks[t][idx + pad]
        out.update(shape_features(t, own, windows[t], windows[other], xp))
    return out


def shape_names(width: int) -> list[str]:
    return [f"{t}_shape_{stat}" for t in SITE_TYPES for stat in SHAPE_STATS] if width else []


def shift(values, offset: int, xp):
    """values[i + offset] along a gene in transcript order, 0 past either end."""
    out = xp.zeros_like(values)
    if offset > 0:
        out[:-offset] = values[offset:]
    elif offset < 0:
        out[-offset:] = values[:offset]
    else:
        out[:] = values
    return out


def kmer_names(k: int) -> list[str]:
    """`{k}mer_{SEQ}` for every k-mer over ACGT in lexicographic order (the original's full set)."""
    import itertools

    return [f"{k}mer_{''.join(p)}" for p in itertools.product("ACGT", repeat=k)]


NUCLEOTIDES: tuple[str, ...] = ("A", "C", "G", "T")


def offset_label(offset: int) -> str:
    """-2 -> "m2", 0 -> "0", 3 -> "p3": the offset spelling of column names."""
    return "0" if offset == 0 else (f"m{-offset}" if offset < 0 else f"p{offset}")


def positional_nucleotide_names(window: int) -> list[str]:
    """One-hot columns `nt_{offset}_{base}` for offsets -window..+window (transcript orientation).

    K-mer counts say which motifs are near a position but not where; these say which base sits at each
    offset, which is what a splice motif is (GT at +1/+2 of a donor, AG at -2/-1 of an acceptor).
    """
    return [f"nt_{offset_label(o)}_{b}" for o in range(-window, window + 1) for b in NUCLEOTIDES]


#: Gene-structure features (per gene, from the annotation; the original's names where it had them).
GENE_STRUCTURE_COLUMNS: tuple[str, ...] = (
    "gene_length", "transcript_length", "num_exons", "avg_exon_length", "median_exon_length",
    "total_exon_length", "total_intron_length", "n_splice_sites", "num_overlaps",
    "distance_to_start", "distance_to_end",
)
