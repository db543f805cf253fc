"""The model's features at chosen nucleotides of one region, made exactly as `gpumeta build` makes them.

Same parts as the builder's `gene_rows` (score context from zero-padded tracks, `derived_features`,
`sequence_columns`, gene-structure columns), but at any index set, so selective inference computes
features only where it re-scores. tests/test_annotate.py proves equality with `build --all-positions`.
Gene-structure values an unannotated region cannot have (exon counts, overlaps) are NaN: xgboost takes
them as missing, and the run card lists them.
"""

from __future__ import annotations

from ..builder.annotation import Gene, gene_sites
from ..builder.gene_structure import gene_structure
from ..builder.params import BuildParams
from ..builder.rows import features_at as build_features_at
from ..builder.rows import padded_scores
from ..features import GENE_STRUCTURE_COLUMNS

#: Gene-structure columns known from a region's coordinates alone.
FROM_COORDINATES = ("gene_length", "distance_to_start", "distance_to_end")
#: Those that need the gene's transcripts (or the whole annotation).
NEED_ANNOTATION = tuple(c for c in GENE_STRUCTURE_COLUMNS if c not in FROM_COORDINATES)


def region_structure(gene: Gene, params: BuildParams, n_overlaps: int | None) -> dict[str, float]:
    """Per-region gene-structure values: the builder's for an annotated gene, NaN where none is known."""
    if gene.transcripts:
        return gene_structure(gene, gene_sites(gene, params.site_convention), n_overlaps or 0)
    out = dict.fromkeys(NEED_ANNOTATION, float("nan"))
    out.update({"tx_start": gene.start, "tx_end": gene.end, "gene_length": float(gene.length)})
    return out


def features_at(tracks, codes, idx, length: int, structure: dict, params: BuildParams, backend,
                track_cache: dict) -> dict[str, object]:
    """{column: xp array} of every feature column at transcript indices `idx` of one region: the builder's
    own `features_at` (tracks in transcript order, `codes` with `params.flank` bases each side)."""
    xp = backend.xp
    padded = padded_scores(tracks[0], tracks[1], params.score_pad, xp)
    return build_features_at(tracks, padded, codes, params.flank, idx, length, structure, params, xp, track_cache)
