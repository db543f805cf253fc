"""TP/FP/FN/TN labelling of one gene, per site type (stream) and per nucleotide.

Per stream t (donor or acceptor), as the original system did: a nucleotide is *called* when its
t-probability is >= threshold. Calls and true sites within +-window nt are matched one to one (each site
to its nearest unused call, sites in transcript order). Per nucleotide of the stream:
  TP = a true site that was matched;  FN = a true site that was not;
  FP = a call with no true t-site within +-window ("called elsewhere");
  TN = everything else, including calls beside a matched site (the shoulder of a correct peak: credited
       to that site, not counted as an error).
So the stream's TP + FN = its true sites and FP = its calls away from any site, which is what an
independent count of sites and calls gives.

A row is a nucleotide, carrying both streams. Its splice_type is the truth there (a nucleotide that is a
site of both types in different transcripts counts as a donor). Its pred_type is the stream of its own
type for sites (TP or FN); for a neither row, FP when either stream calls it away from its sites, else TN.

The O(gene length) steps (thresholds, masks) use `backend.xp`; matching works on the few site and call
indices on the host, so it costs nothing per nucleotide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TN, TP, FP, FN = 0, 1, 2, 3
PRED_TYPES: tuple[str, ...] = ("TN", "TP", "FP", "FN")  # indexed by the codes above


@dataclass
class StreamLabels:
    codes: object        # xp int8 per nucleotide: TN/TP/FP/FN
    called: object       # xp bool per nucleotide
    site_mask: object    # xp bool per nucleotide
    counts: dict[str, int]


def match_sites(sites: np.ndarray, calls: np.ndarray, window: int) -> np.ndarray:
    """Boolean per site: matched to a call within +-window, each call used at most once.

    Greedy in site order, each site taking its nearest unused call (the earlier one on a tie). Sites
    further than 2*window apart cannot compete, so the vectorised nearest-call answer is kept unless two
    sites chose the same call; only then the greedy loop runs (over sites, never nucleotides).
    """
    if len(sites) == 0 or len(calls) == 0:
        return np.zeros(len(sites), dtype=bool)
    right = np.searchsorted(calls, sites)
    left_idx, right_idx = np.clip(right - 1, 0, len(calls) - 1), np.clip(right, 0, len(calls) - 1)
    d_left, d_right = np.abs(sites - calls[left_idx]), np.abs(calls[right_idx] - sites)
    choice = np.where(d_left <= d_right, left_idx, right_idx)
    matched = np.minimum(d_left, d_right) <= window
    if len(np.unique(choice[matched])) == int(matched.sum()):
        return matched
    used = np.zeros(len(calls), dtype=bool)
    out = np.zeros(len(sites), dtype=bool)
    for i, site in enumerate(sites.tolist()):
        lo, hi = np.searchsorted(calls, site - window), np.searchsorted(calls, site + window, side="right")
        free = [j for j in range(lo, hi) if not used[j]]
        if free:
            j = min(free, key=lambda j: (abs(int(calls[j]) - site), j))
            used[j] = out[i] = True
    return out


def label_stream(prob, site_idx: np.ndarray, threshold: float, window: int, backend) -> StreamLabels:
    """Labels of one stream over a gene. `prob` is an xp array in transcript order; `site_idx` host ints."""
    xp = backend.xp
    n = prob.shape[0]
    called = prob >= threshold
    call_idx = backend.to_host(xp.nonzero(called)[0]).astype(np.int64)
    sites = np.asarray(site_idx, dtype=np.int64)
    matched = match_sites(sites, call_idx, window)
    if len(sites):
        nearest = np.searchsorted(sites, call_idx)
        d_right = np.abs(sites[np.clip(nearest, 0, len(sites) - 1)] - call_idx)
        d_left = np.abs(call_idx - sites[np.clip(nearest - 1, 0, len(sites) - 1)])
        false_calls = call_idx[np.minimum(d_left, d_right) > window]
    else:
        false_calls = call_idx
    codes_host = np.zeros(n, dtype=np.int8)
    codes_host[false_calls] = FP
    codes_host[sites[matched]] = TP
    codes_host[sites[~matched]] = FN
    # Codes are written on the host (a handful of scattered indices) and moved once; masks stay on xp.
    codes = backend.asarray(codes_host)
    site_mask = xp.zeros(n, dtype=bool)
    site_mask[backend.asarray(sites)] = True
    counts = {"TP": int(matched.sum()), "FN": int((~matched).sum()), "FP": len(false_calls)}
    counts["TN"] = n - counts["TP"] - counts["FN"] - counts["FP"]
    return StreamLabels(codes, called, site_mask, counts)


def row_labels(donor: StreamLabels, acceptor: StreamLabels, xp):
    """(splice_type codes 0/1/2, pred_type codes) per nucleotide from the two streams (see module doc)."""
    splice = xp.where(donor.site_mask, 1, xp.where(acceptor.site_mask, 2, 0)).astype(xp.int8)
    neither_pred = xp.where((donor.codes == FP) | (acceptor.codes == FP), FP, TN)
    pred = xp.where(splice == 1, donor.codes, xp.where(splice == 2, acceptor.codes, neither_pred))
    return splice, pred.astype(xp.int8)
