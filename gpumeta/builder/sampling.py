"""Negative sampling of one gene's nucleotides into strata, with the inclusion probability of each row.

Strata, in priority order (a nucleotide takes the first that applies):
  site   a true donor/acceptor (TP or FN rows)            kept whole
  call   either stream >= threshold, not a site            kept whole (all FP rows live here)
  hard   max(donor, acceptor) >= hard_prob                 kept whole
  window within +-tn_window nt of a site or call          kept whole
  easy   the rest: easy_ratio x (rows kept above) drawn uniformly without replacement, so every easy
         row has inclusion_prob = drawn / pool exactly (training can weight by 1/inclusion_prob).
The draw is seeded per gene from (seed, gene_id), so batch size and gene order never change it.
"""

from __future__ import annotations

import hashlib

import numpy as np

STRATA: tuple[str, ...] = ("site", "call", "hard", "window", "easy")
SITE, CALL, HARD, WINDOW, EASY = range(5)


def gene_seed(seed: int, gene_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{gene_id}".encode()).digest()[:8], "little")


def strata(splice, called_any, smax, hard_prob: float, tn_window: int, xp):
    """Stratum code per nucleotide (xp int8)."""
    site = splice != 0
    call = called_any & ~site
    anchor = (site | call).astype(xp.int32)
    n = anchor.shape[0]
    # Any anchor within +-tn_window: a difference of prefix sums over the clipped window.
    prefix = xp.concatenate([xp.zeros(1, dtype=xp.int32), xp.cumsum(anchor, dtype=xp.int32)])
    idx = xp.arange(n)
    near = (prefix[xp.minimum(idx + tn_window + 1, n)] - prefix[xp.maximum(idx - tn_window, 0)]) > 0
    out = xp.full(n, EASY, dtype=xp.int8)
    out[near] = WINDOW
    out[smax >= hard_prob] = HARD
    out[call] = CALL
    out[site] = SITE
    return out


def sample(stratum, easy_ratio: float, seed: int, gene_id: str, backend):
    """(kept indices in transcript order, inclusion_prob per kept row), both xp arrays."""
    xp = backend.xp
    easy = stratum == EASY
    n_easy = int(easy.sum())
    n_kept = int(stratum.shape[0] - n_easy)
    n_draw = min(n_easy, round(easy_ratio * n_kept))
    keep = ~easy
    prob = xp.ones(stratum.shape[0], dtype=xp.float32)
    if n_draw > 0:
        # Drawn on the host (same numbers on every backend), scattered back by rank within the pool.
        rng = np.random.default_rng(gene_seed(seed, gene_id))
        chosen = np.zeros(n_easy, dtype=bool)
        chosen[rng.choice(n_easy, size=n_draw, replace=False)] = True
        easy_idx = xp.nonzero(easy)[0]
        keep[easy_idx[backend.asarray(chosen)]] = True
        prob[easy_idx] = np.float32(n_draw / n_easy)
    kept = xp.nonzero(keep)[0]
    return kept, prob[kept]
