"""The dataset contract: labels, required columns and the role of every column.

Shared by the loader, the validator, the builder and the synthetic data maker, so the rules live once.
Compatible with datasets of the original MetaSpliceAI builder (``master/*.parquet``, ``splice_type``).
"""

from __future__ import annotations

import re

#: Class order everywhere: column k of every probability matrix is LABELS[k].
LABELS: tuple[str, ...] = ("neither", "donor", "acceptor")
LABEL_CODES: dict[str, int] = {name: code for code, name in enumerate(LABELS)}
#: Base-model probability column of each class, in LABELS order.
BASE_SCORE_COLUMNS: tuple[str, ...] = ("neither_score", "donor_score", "acceptor_score")
LABEL_COLUMN = "splice_type"
GENE_COLUMN = "gene_id"
REQUIRED_COLUMNS: tuple[str, ...] = (GENE_COLUMN, LABEL_COLUMN, *BASE_SCORE_COLUMNS)

#: Identifiers, coordinates and free text: kept for reporting, never learned from. Absolute genomic
#: coordinates (gene_start, tx_start, ...) are here too, unlike the original system: a position on a
#: chromosome says nothing about splicing and lets a model memorise genes.
METADATA_COLUMNS: frozenset[str] = frozenset({
    "gene_id", "transcript_id", "position", "absolute_position", "window_start", "window_end",
    "chrom", "strand", "gene_type", "gene_name", "transcript_count", "sequence",
    "gene_start", "gene_end", "tx_start", "tx_end",
    # Written by gpumeta's builder: how a row was sampled, so training can weight rows and evaluation
    # can undo the sampling.
    "sampling_stratum", "inclusion_prob",
})
#: Columns computed from the truth: a model that saw them would be cheating.
LABEL_DERIVED_COLUMNS: frozenset[str] = frozenset({
    "splice_type", "pred_type", "true_position", "predicted_position",
})
#: Redundant with the base scores (score = max(donor, acceptor)) in the original layout.
REDUNDANT_COLUMNS: frozenset[str] = frozenset({"score"})
NON_FEATURE_COLUMNS: frozenset[str] = METADATA_COLUMNS | LABEL_DERIVED_COLUMNS | REDUNDANT_COLUMNS

#: Probability-valued features whose mass piles up near 0: quantile bins would spend nearly every edge
#: below 0.01, so the learner sees them on the logit scale (a monotone map: trees lose nothing).
_PROBABILITY_FEATURE = re.compile(r"(^|_)score($|_)|probability|^context_")

#: Spellings of labels accepted at load (the original also wrote 0/1/2).
_LABEL_ALIASES: dict[object, int] = {
    **LABEL_CODES, **{name.upper(): code for name, code in LABEL_CODES.items()},
    0: 0, 1: 1, 2: 2, "0": 0, "1": 1, "2": 2,
}


def label_code(value: object) -> int | None:
    """Code of one label value, or None if it is not a label."""
    if isinstance(value, str):
        value = value.strip()
        return _LABEL_ALIASES.get(value, _LABEL_ALIASES.get(value.lower()))
    try:
        return _LABEL_ALIASES.get(int(value)) if float(value) == int(value) else None
    except (TypeError, ValueError, OverflowError):
        return None


def is_feature_column(name: str) -> bool:
    return name not in NON_FEATURE_COLUMNS


def is_probability_feature(name: str) -> bool:
    return bool(_PROBABILITY_FEATURE.search(name))
