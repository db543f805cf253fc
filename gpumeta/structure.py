"""Gene-structure decoding: site calls that respect how splice sites follow one another in a transcript.

A base model (or a meta-model) scores each nucleotide on its own. A transcript's sites are not independent:
read 5' to 3' they alternate donor, acceptor, donor, ..., acceptor (the first exon ends at a donor, the last
begins at an acceptor), with an intron of at least `min_intron` nt between a donor and the next acceptor and
an exon of at least `min_exon` nt between an acceptor and the next donor. Two acceptors 3 nt apart (NAGNAG),
a lone strong donor in an intron, or a strong acceptor with no donor before it break that order; a weak
donor between two strong acceptors is what the order asks for.

The decoding is a two-state model over each gene's candidate sites (probability >= `floor`; nothing below it
is ever called). A parse is any subset of candidates; its weight is the product over its sites of
odds(p) / odds(t) (p the site's probability, t the type's tuned threshold, so with no conflict a site is
called exactly where p >= t), times `violation` for every break of the order (two sites of one type in a
row, a parse that starts with an acceptor or ends with a donor). Parses that put an intron or exon below
its minimum length are excluded. Forward-backward over all parses gives each candidate's posterior
probability of being a site; calls are posteriors >= a cut per type.

`violation` 0 is the strict order, right for labels of one transcript per gene (SpliceAI's annotation
table); labels that pool several isoforms (a GTF's every transcript) break the order wherever isoforms
differ, and `fit_structure` chooses a larger `violation` for them, 1 being close to no constraint. Both the
violation and the cuts are chosen on rows the model did not train on (train's out-of-fold rows), by the
fewest FP+FN.

Positions are gpumeta's transcript-oriented `position` (5' to 3' on either strand). Rows may come in any
order and of many genes; sampled rows (a dataset's `master/`) hold every candidate the builder kept, which
is every position whose base score reaches its hard-negative threshold. Exact, O(candidates) per gene, on
the host: the recurrence is sequential and the candidates are few (about one nucleotide in ten of a gene).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np

from .calibration import log_odds
from .errors import GpumetaError

#: The violations and posterior cuts `fit_structure` chooses among.
VIOLATIONS = (0.0, 0.01, 0.1, 1.0)
CUTS = tuple(round(c, 2) for c in np.arange(0.1, 0.91, 0.05))

_NO_WEIGHT = -math.inf


@dataclass(frozen=True)
class GeneStructure:
    """How sites are decoded: the order's violation factor, each type's posterior cut (donor, acceptor),
    the shortest intron and exon, and the probability below which a position is never a candidate."""

    violation: float = 0.0
    cuts: tuple[float, float] = (0.5, 0.5)
    min_intron: int = 30
    min_exon: int = 3
    floor: float = 0.01

    def __post_init__(self):
        checks = (
            (0.0 <= self.violation <= 1.0, f"violation {self.violation}: give a factor in [0, 1]"),
            (len(self.cuts) == 2 and all(0.0 < c < 1.0 for c in self.cuts),
             f"cuts {self.cuts}: give (donor, acceptor) posterior cuts in (0, 1)"),
            (self.min_intron >= 0 and self.min_exon >= 1,
             f"min_intron {self.min_intron} / min_exon {self.min_exon}: give lengths >= 0 and >= 1"),
            (0.0 < self.floor < 1.0, f"floor {self.floor}: give a probability in (0, 1)"),
        )
        for ok, message in checks:
            if not ok:
                raise GpumetaError(f"gene structure: {message}")

    def to_dict(self) -> dict:
        return {**asdict(self), "cuts": list(self.cuts)}

    @classmethod
    def from_dict(cls, values: dict) -> GeneStructure:
        return cls(**{**values, "cuts": tuple(values["cuts"])})


def _logaddexp(a: float, b: float) -> float:
    """log(exp(a) + exp(b)); -inf is the log of no weight."""
    if a < b:
        a, b = b, a
    if b == _NO_WEIGHT:
        return a
    return a + _log1p(_exp(b - a))


_exp, _log1p = math.exp, math.log1p


def _forward(positions: list[int], kinds: list[int], weights: list[float], log_violation: float,
             gap: tuple[int, int]) -> list[float]:
    """alpha[c]: the log weight of every parse of the candidates up to c that ends at c. Sums over the
    predecessors the order allows (the other kind, `gap[its kind]` nt back or more) are kept as running
    log-sums, fed by a queue of candidates not yet far enough back. The hottest loop of gpumeta's host code:
    plain floats and local names, no NumPy per candidate."""
    lae = _logaddexp
    breaks = log_violation != _NO_WEIGHT  # with the strict order, no break terms at all
    alpha = [0.0] * len(positions)
    allowed = [_NO_WEIGHT, _NO_WEIGHT]  # per kind: log-sum of alpha over candidates far enough back
    every = [_NO_WEIGHT, _NO_WEIGHT]  # per kind: log-sum of alpha over every earlier candidate
    waiting: list[list[int]] = [[], []]
    taken = [0, 0]
    for c, (pos, kind) in enumerate(zip(positions, kinds)):
        other = 1 - kind
        queue, k, reach = waiting[other], taken[other], pos - gap[other]
        total = allowed[other]
        while k < len(queue) and positions[queue[k]] <= reach:
            total = lae(total, alpha[queue[k]])
            k += 1
        allowed[other], taken[other] = total, k
        # A donor may be the first site; an acceptor first, or a site after its own kind, is a break.
        into = lae(0.0, total) if kind == 0 else total
        if breaks:
            into = lae(into, log_violation + every[kind])
            if kind == 1:
                into = lae(into, log_violation)
        alpha[c] = weights[c] + into
        waiting[kind].append(c)
        if breaks:
            every[kind] = lae(every[kind], alpha[c])
    return alpha


def _gene_posteriors(positions: list[int], kinds: list[int], weights: list[float], log_violation: float,
                     min_intron: int, min_exon: int) -> list[float]:
    """Posterior of each candidate of one gene (sorted by position; kind 0 donor, 1 acceptor; weight the log
    odds ratio against the type's threshold): forward times backward over the total weight. The backward
    pass is the forward pass over the gene read 3' to 5' with donors and acceptors swapped: the order, its
    breaks (an acceptor first <-> a donor last) and the minimum lengths read the same both ways."""
    # An acceptor may follow a donor min_intron + 1 nt on, a donor an acceptor min_exon - 1 nt on (both
    # sites lie in the exon); indexed by the kind of the earlier site.
    gap = (min_intron + 1, min_exon - 1)
    alpha = _forward(positions, kinds, weights, log_violation, gap)
    back = _forward([-p for p in reversed(positions)], [1 - k for k in reversed(kinds)], weights[::-1],
                    log_violation, gap)[::-1]
    log_total = 0.0  # the empty parse
    for a, kind in zip(alpha, kinds):  # a parse may end at an acceptor, or at a donor as a break
        log_total = _logaddexp(log_total, a if kind == 1 else a + log_violation)
    return [_exp(min(a + b - w - log_total, 0.0)) for a, b, w in zip(alpha, back, weights)]


def _by_gene(gene_ids, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(the rows in gene then position order, their gene codes in that order, a row that repeats a nucleotide
    of an earlier row or None)."""
    _, gene_code = np.unique(np.asarray(gene_ids), return_inverse=True)
    order = np.lexsort((positions, gene_code))
    sorted_code, sorted_pos = gene_code[order], positions[order]
    repeated = np.flatnonzero((sorted_code[1:] == sorted_code[:-1]) & (sorted_pos[1:] == sorted_pos[:-1]))
    return order, sorted_code, int(order[repeated[0] + 1]) if len(repeated) else None


def _gene_candidates(gene_ids, positions, donor, acceptor, thresholds: tuple[float, float],
                     floor: float) -> list[tuple[np.ndarray, np.ndarray, list, list, list]]:
    """Each gene's candidates (probability >= floor) in position order, a donor before an acceptor at one
    position: (rows, kinds, positions, kinds, log odds ratios against the thresholds), the last three as
    lists for the recurrence. Checks the rows first: one value per row, thresholds in (0, 1), each
    nucleotide once."""
    positions = np.asarray(positions, dtype=np.int64)
    scores = [np.asarray(donor, dtype=np.float64), np.asarray(acceptor, dtype=np.float64)]
    n = len(gene_ids)
    if not (len(positions) == len(scores[0]) == len(scores[1]) == n):
        raise GpumetaError(f"gene structure: gene_ids, positions, donor and acceptor differ in length "
                           f"({n}, {len(positions)}, {len(scores[0])}, {len(scores[1])}); give one value per row")
    if not all(0.0 < t < 1.0 for t in thresholds):
        raise GpumetaError(f"gene structure: thresholds {tuple(thresholds)}: give (donor, acceptor) in (0, 1)")
    if n == 0:
        return []
    order, sorted_code, repeated = _by_gene(gene_ids, positions)
    if repeated is not None:
        raise GpumetaError(f"gene structure: gene {np.asarray(gene_ids)[repeated]} position {positions[repeated]} "
                           "appears more than once; give each nucleotide once (gpumeta dedupe)")
    weights = [log_odds(s) - log_odds(np.float64(t)) for s, t in zip(scores, thresholds)]
    genes = []
    starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1], True])
    for start, stop in itertools.pairwise(starts):
        rows = order[start:stop]
        kind_rows = [(kind, rows[scores[kind][rows] >= floor]) for kind in (0, 1)]
        cand_rows = np.concatenate([r for _, r in kind_rows])
        if not len(cand_rows):
            continue
        cand_kind = np.concatenate([np.full(len(r), kind) for kind, r in kind_rows])
        by_position = np.lexsort((cand_kind, positions[cand_rows]))
        cand_rows, cand_kind = cand_rows[by_position], cand_kind[by_position]
        cand_weight = np.where(cand_kind == 0, weights[0][cand_rows], weights[1][cand_rows])
        genes.append((cand_rows, cand_kind, positions[cand_rows].tolist(), cand_kind.tolist(),
                      cand_weight.tolist()))
    return genes


def _decode(candidates: list, n: int, structure: GeneStructure) -> np.ndarray:
    """(n, 2) posteriors of the rows behind `_gene_candidates` under `structure`; 0 for rows that are none."""
    out = np.zeros((n, 2))
    log_violation = math.log(structure.violation) if structure.violation > 0 else _NO_WEIGHT
    for rows, kinds, positions, kind_list, weights in candidates:
        out[rows, kinds] = _gene_posteriors(positions, kind_list, weights, log_violation, structure.min_intron,
                                            structure.min_exon)
    return out


def site_posteriors(gene_ids, positions, donor, acceptor, thresholds: tuple[float, float],
                    structure: GeneStructure = GeneStructure()) -> np.ndarray:
    """Each row's posterior probability of being a donor and an acceptor (rows x 2) under the gene-structure
    model; 0 where the row's probability is below `structure.floor`.

    gene_ids, positions (transcript-oriented), donor, acceptor: one value per row, rows of many genes in any
    order; thresholds: the (donor, acceptor) thresholds the probabilities were tuned at."""
    candidates = _gene_candidates(gene_ids, positions, donor, acceptor, thresholds, structure.floor)
    return _decode(candidates, len(gene_ids), structure)


def gene_positions(gene_ids, meta) -> tuple[np.ndarray | None, str]:
    """The rows' positions (a dataset's `meta` table) when every row can be placed in its gene, else None and
    why: no position column, or a nucleotide in more than one row."""
    if "position" not in meta:
        return None, "the dataset has no position column"
    positions = np.asarray(meta["position"], dtype=np.int64)
    if len(positions) and _by_gene(gene_ids, positions)[2] is not None:
        return None, "a nucleotide appears in more than one row (gpumeta dedupe removes the copies)"
    return positions, ""


def fit_structure(gene_ids, positions, y_donor, y_acceptor, donor, acceptor, thresholds: tuple[float, float],
                  violations=VIOLATIONS, cuts=CUTS, **lengths) -> tuple[GeneStructure, int]:
    """The violation and the per-type cuts with the fewest FP+FN on these rows (rows the model did not train
    on), and that count. y_donor / y_acceptor: whether each row is a donor / an acceptor; `lengths`:
    min_intron, min_exon, floor of `GeneStructure`. Ties go to the smaller violation, then the smaller cut."""
    truth = [np.asarray(y_donor, dtype=bool), np.asarray(y_acceptor, dtype=bool)]
    # The candidates do not depend on the violation: found once, decoded once per violation.
    candidates = _gene_candidates(gene_ids, positions, donor, acceptor, thresholds, GeneStructure(**lengths).floor)
    best: tuple[int, GeneStructure] | None = None
    for violation in violations:
        structure = GeneStructure(violation=violation, **lengths)
        errors, chosen = best_cuts(_decode(candidates, len(gene_ids), structure), truth, cuts)
        if best is None or errors < best[0]:
            best = (errors, GeneStructure(violation=violation, cuts=chosen, **lengths))
    return best[1], best[0]


def best_cuts(posterior: np.ndarray, truth: list[np.ndarray], cuts=CUTS) -> tuple[int, tuple[float, float]]:
    """The (donor, acceptor) posterior cuts with the fewest FP+FN on these rows, and that count; `truth`:
    whether each row is a donor, an acceptor. Ties go to the smaller cut."""
    chosen, errors = [], 0
    for kind in (0, 1):
        counts = [int(((posterior[:, kind] >= cut) ^ truth[kind]).sum()) for cut in cuts]
        k = int(np.argmin(counts))
        chosen.append(float(cuts[k]))
        errors += counts[k]
    return errors, (chosen[0], chosen[1])
