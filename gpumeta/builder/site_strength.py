"""Splice-site sequence strength: label-free features of the bases around a row (`gpumeta build --site-strength`).

The base model reads sequence through its own weights; these columns say, from the bases alone and from a
FIXED model of the human consensus (nothing is fitted on the dataset's labels, so no fold can leak into
another), how good a donor or an acceptor a position would be, and how good the best competitor a few
nucleotides away would be: the residual errors of SpliceAI cluster at acceptors 1-5 nt from an annotated
one (NAGNAG-like tandem sites) and at weak annotated sites.

Scores are position weight matrices in the windows of MaxEntScan (Yeo & Burge 2004): the donor 9-mer (3 exon
bases, 6 intron bases: offsets -2..+6 from the site, which is the last exon base in gpumeta's convention)
and the acceptor 23-mer (20 intron bases, 3 exon bases: offsets -20..+2 from the site, the first exon base).
No PyPI package installable here ships MaxEntScan's published models (`maxentpy` is not on the index this
project reaches), so the matrices are rounded base frequencies of human constitutive sites as published in
consensus logos (cf. Shapiro & Senapathy 1987; Zhang 1998), scored as log2(frequency / 0.25); an N
scores 0. They are constants of this module: changing them changes every dataset built with the option.

Columns (float32), all in transcript orientation:

* ``{donor,acceptor}_pwm``: the score of the row as a site of that type;
* ``{donor,acceptor}_pwm_rival``: the best score of the same type at offsets +-1..+-RIVAL_WIDTH;
* ``{donor,acceptor}_pwm_margin``: own score - rival score;
* ``{donor,acceptor}_pwm_rival_offset``: the signed offset of that rival (the nearest on ties, upstream first);
* ``acceptor_ag_up3`` / ``acceptor_ag_down3``: an AG 3 nt upstream (offsets -5, -4) / downstream (+1, +2)
  of the acceptor's own AG (-2, -1): the two NAGNAG arrangements;
* ``acceptor_ag_distance``: d of the nearest AG whose G sits at offset -1 - d, d in 1..AG_SEARCH
  (AG_SEARCH + 1 when none: the AG exclusion zone upstream of an acceptor);
* ``acceptor_ppt``: the pyrimidine share of offsets -20..-5 (the polypyrimidine tract).
"""

from __future__ import annotations

import numpy as np

from .fasta import N_CODE

#: Best competitor searched within +-RIVAL_WIDTH nt.
RIVAL_WIDTH = 5
#: Nearest upstream AG searched up to this distance.
AG_SEARCH = 40

# Base frequencies (A, C, G, T) per offset from the site, transcript orientation.
_DONOR_FREQ = {
    -2: (0.33, 0.37, 0.18, 0.12),
    -1: (0.61, 0.13, 0.12, 0.14),
    0: (0.09, 0.04, 0.80, 0.07),
    1: (0.001, 0.001, 0.997, 0.001),
    2: (0.001, 0.010, 0.001, 0.988),
    3: (0.60, 0.03, 0.34, 0.03),
    4: (0.70, 0.08, 0.12, 0.10),
    5: (0.08, 0.06, 0.79, 0.07),
    6: (0.16, 0.15, 0.20, 0.49),
}
_ACCEPTOR_FREQ = {
    **{o: (0.11, 0.30, 0.12, 0.47) for o in range(-20, -14)},
    **{o: (0.09, 0.33, 0.09, 0.49) for o in range(-14, -5)},
    -5: (0.07, 0.36, 0.06, 0.51),
    -4: (0.23, 0.32, 0.19, 0.26),
    -3: (0.04, 0.70, 0.01, 0.25),
    -2: (0.997, 0.001, 0.001, 0.001),
    -1: (0.001, 0.001, 0.997, 0.001),
    0: (0.24, 0.14, 0.52, 0.10),
    1: (0.25, 0.18, 0.21, 0.36),
    2: (0.25, 0.22, 0.26, 0.27),
}
_PPT_OFFSETS = tuple(range(-20, -4))
_A, _C, _G, _T = range(4)

SITE_STRENGTH_COLUMNS: tuple[str, ...] = tuple(
    [f"{t}_pwm{s}" for t in ("donor", "acceptor") for s in ("", "_rival", "_margin", "_rival_offset")]
    + ["acceptor_ag_up3", "acceptor_ag_down3", "acceptor_ag_distance", "acceptor_ppt"])


def pwm_table(freq: dict[int, tuple[float, ...]]) -> tuple[list[int], np.ndarray]:
    """(offsets, (len(offsets), 5) float32 log2-odds against a uniform background; column 4 (N) is 0)."""
    offsets = sorted(freq)
    table = np.zeros((len(offsets), N_CODE + 1), dtype=np.float64)
    for row, o in enumerate(offsets):
        f = np.asarray(freq[o], dtype=np.float64)
        table[row, :4] = np.log2(f / f.sum() / 0.25)
    return offsets, table.astype(np.float32)


DONOR_PWM = pwm_table(_DONOR_FREQ)
ACCEPTOR_PWM = pwm_table(_ACCEPTOR_FREQ)


def reach() -> tuple[int, int]:
    """(upstream, downstream) bases beyond a row that the columns read."""
    up = max(-min(DONOR_PWM[0]), -min(ACCEPTOR_PWM[0])) + RIVAL_WIDTH
    down = max(max(DONOR_PWM[0]), max(ACCEPTOR_PWM[0])) + RIVAL_WIDTH
    return max(up, AG_SEARCH + 2, -min(_PPT_OFFSETS)), down


def pwm_scores(codes, pos, pwm: tuple[list[int], np.ndarray], xp):
    """Scores of the sites centred at array indices `pos` (any shape) of a base-code array."""
    offsets, table = pwm
    table = xp.asarray(table)
    out = xp.zeros(pos.shape, dtype=xp.float32)
    for row, o in enumerate(offsets):
        out += table[row][codes[pos + o].astype(xp.int64)]
    return out


def _is_ag(codes, pos, xp):
    return (codes[pos] == _A) & (codes[pos + 1] == _G)


def site_strength_columns(codes, centers, flank: int, xp) -> dict[str, object]:
    """{column: float32 xp array} of the site-strength columns at transcript indices `centers` (`codes`
    holds `flank` >= reach() bases each side, transcript orientation)."""
    pos = centers + flank
    out: dict[str, object] = {}
    # nearest first, upstream before downstream: argmax picks the first maximum
    rivals = xp.asarray(sorted((o for o in range(-RIVAL_WIDTH, RIVAL_WIDTH + 1) if o != 0),
                               key=lambda o: (abs(o), o > 0)), dtype=pos.dtype)
    for t, pwm in (("donor", DONOR_PWM), ("acceptor", ACCEPTOR_PWM)):
        own = pwm_scores(codes, pos, pwm, xp)
        near = pwm_scores(codes, pos[:, None] + rivals[None, :], pwm, xp)
        best = near.argmax(axis=1)
        rival = near.max(axis=1)
        out[f"{t}_pwm"] = own
        out[f"{t}_pwm_rival"] = rival
        out[f"{t}_pwm_margin"] = own - rival
        out[f"{t}_pwm_rival_offset"] = rivals[best].astype(xp.float32)
    out["acceptor_ag_up3"] = _is_ag(codes, pos - 5, xp).astype(xp.float32)
    out["acceptor_ag_down3"] = _is_ag(codes, pos + 1, xp).astype(xp.float32)
    distance = xp.full(pos.shape, AG_SEARCH + 1, dtype=xp.float32)
    for d in range(AG_SEARCH, 0, -1):  # the nearest wins: written last
        distance = xp.where(_is_ag(codes, pos - 2 - d, xp), xp.float32(d), distance)
    out["acceptor_ag_distance"] = distance
    ppt = xp.zeros(pos.shape, dtype=xp.float32)
    for o in _PPT_OFFSETS:
        base = codes[pos + o]
        ppt += ((base == _C) | (base == _T)).astype(xp.float32)
    out["acceptor_ppt"] = ppt / len(_PPT_OFFSETS)
    return {name: out[name] for name in SITE_STRENGTH_COLUMNS}
