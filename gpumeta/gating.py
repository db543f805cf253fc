"""Gated scoring: the meta-model's probability where the base model is unsure, the base model's elsewhere.

A meta-model is trained on sampled rows: every site and call, every negative the base model scores at
or above the builder's hard-negative threshold (`BuildParams.hard_prob`) and their neighbours, and only a
few easy negatives. Judged at every nucleotide it meets mostly easy negatives it never learned from, and
there it can score above its threshold (issue 11: on chr22 its acceptor AP at every nucleotide fell below
SpliceAI's although SpliceAI's score is one of its features). Gating keeps the meta-model to the rows it
was trained for: a nucleotide is re-scored when max(donor, acceptor) base score >= `floor`, or when such
a nucleotide lies within +-`context` of it (its context features see that score); every other nucleotide
keeps the base probability. This is the rule `gpumeta annotate` applies in its default (selective) mode.

`rescore_mask` works on one region's score tracks (consecutive nucleotides); `gate_rows` on dataset rows
of many genes in any order (gene_id, position), so held-out evaluation and annotate share one rule.
"""

from __future__ import annotations

import numpy as np

from .schema import LABELS


def rescore_mask(donor, acceptor, floor: float, context: int, xp=np):
    """Nucleotides of one region (consecutive positions) the meta-model re-scores: base max(donor,
    acceptor) >= floor, dilated by +-context."""
    unsure = xp.maximum(donor, acceptor) >= floor
    if context <= 0:
        return unsure
    # A dilation by +-context: a nucleotide is kept when any unsure one lies within the window.
    counts = xp.cumsum(xp.concatenate([xp.zeros(context + 1, dtype=xp.int64), unsure.astype(xp.int64),
                                       xp.zeros(context, dtype=xp.int64)]))
    return (counts[2 * context + 1:] - counts[: -2 * context - 1]) > 0


def gate_rows(gene_ids: np.ndarray, positions: np.ndarray, base_proba: np.ndarray, floor: float,
              context: int) -> np.ndarray:
    """The same rule on dataset rows (any order, any genes): True where the meta-model re-scores the row.

    A row is re-scored when a row of the same gene within +-context positions (itself included) has base
    max(donor, acceptor) >= floor. On a dataset of every nucleotide this equals `rescore_mask` per gene;
    on sampled rows, absent neighbours simply do not count.
    """
    _, gene_code = np.unique(np.asarray(gene_ids), return_inverse=True)
    positions = np.asarray(positions, dtype=np.int64)
    # One sorted key per row: genes far apart, so a window never reaches into the next gene.
    span = int(positions.max() - positions.min()) + 2 * context + 2 if len(positions) else 1
    key = gene_code.astype(np.int64) * span + (positions - (positions.min() if len(positions) else 0))
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    scores = base_proba[:, [LABELS.index("donor"), LABELS.index("acceptor")]].max(axis=1)
    unsure_sorted = (scores[order] >= floor).astype(np.int64)
    counts = np.concatenate([[0], np.cumsum(unsure_sorted)])
    lo = np.searchsorted(sorted_key, sorted_key - context, side="left")
    hi = np.searchsorted(sorted_key, sorted_key + context, side="right")
    mask = np.empty(len(key), dtype=bool)
    mask[order] = (counts[hi] - counts[lo]) > 0
    return mask


def gated_proba(base_proba: np.ndarray, meta_proba: np.ndarray, rescored: np.ndarray) -> np.ndarray:
    """Per row: the meta-model's class probabilities where `rescored`, the base model's elsewhere."""
    return np.where(np.asarray(rescored, dtype=bool)[:, None], meta_proba, base_proba).astype(meta_proba.dtype)
