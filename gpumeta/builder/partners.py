"""Exon-definition columns: each position's strongest partner site in the base model's own scores.

A true acceptor starts an exon that a donor closes some 20-500 nt downstream, and closes an intron that a
donor opened upstream; a true donor mirrors that. A base model scores every position on its own, so nothing
ties an acceptor to the donor its exon needs, and the meta-model's other score columns look no further than
a few nt. These columns give it, at each position, the strongest candidate of each partner within a window
(transcript order; nothing past the gene ends). They read only the base scores, so they are label-free and
`gpumeta annotate` rebuilds them from the same tracks.

Columns (`PARTNER_COLUMNS`) at position i, W = the build's `partner_window`:
  acceptor_exon_donor_max    max donor score in [i + 20, i + 500]   the donor that would close i's exon
  donor_exon_acceptor_max    max acceptor score in [i - 500, i - 20] the acceptor that would open it
  donor_intron_acceptor_max  max acceptor score in [i + 60, i + W]  the acceptor that would close i's intron
  acceptor_intron_donor_max  max donor score in [i - W, i - 60]     the donor that would open it
"""

from __future__ import annotations

#: Exon lengths the exon partners are looked for at (most internal human exons are 50-250 nt).
EXON = (20, 500)
#: The shortest intron an intron partner may close (U2 introns are rarely under 70 nt).
INTRON_MIN = 60
#: (column, partner type, window (lo, hi) relative to the position; None: the build's partner_window).
_PARTNERS = (
    ("acceptor_exon_donor_max", "donor", (EXON[0], EXON[1])),
    ("donor_exon_acceptor_max", "acceptor", (-EXON[1], -EXON[0])),
    ("donor_intron_acceptor_max", "acceptor", (INTRON_MIN, None)),
    ("acceptor_intron_donor_max", "donor", (None, -INTRON_MIN)),
)
PARTNER_COLUMNS: tuple[str, ...] = tuple(name for name, _, _ in _PARTNERS)


def windows(width: int) -> dict[str, tuple[str, int, int]]:
    """{column: (partner type, lo, hi)} with the intron windows reaching `width` nt."""
    out = {}
    for name, partner, (lo, hi) in _PARTNERS:
        out[name] = (partner, -width if lo is None else lo, width if hi is None else hi)
    return out


def window_max(values, lo: int, hi: int, xp):
    """max(values[i + lo .. i + hi]) at every index i (0 where the window leaves the array; lo <= hi).

    A sparse table by doubling: after k passes m[j] = max(values[j .. j + 2^k - 1]), and a window is the
    larger of two such spans that cover it. O(n log(hi - lo)) array operations, the same on NumPy and CuPy.
    """
    n, size = int(values.shape[0]), hi - lo + 1
    left = max(0, -lo)
    padded = xp.zeros(left + n + max(0, hi) + 1, dtype=values.dtype)
    padded[left: left + n] = values
    span = 1
    while 2 * span <= size:
        padded = xp.maximum(padded[:-span], padded[span:])
        span *= 2
    start = left + lo
    return xp.maximum(padded[start: start + n], padded[start + size - span: start + size - span + n])


def partner_columns(donor, acceptor, idx, width: int, xp, cache: dict) -> dict[str, object]:
    """{column: float32 xp array} of PARTNER_COLUMNS at transcript indices `idx` of one gene (`donor`,
    `acceptor`: its whole tracks); none when `width` is 0. `cache` holds the gene's maxima between chunks."""
    if not width:
        return {}
    key = ("partners", width)
    if key not in cache:
        tracks = {"donor": donor, "acceptor": acceptor}
        cache[key] = {name: window_max(tracks[partner], lo, hi, xp)
                      for name, (partner, lo, hi) in windows(width).items()}
    return {name: track[idx] for name, track in cache[key].items()}
