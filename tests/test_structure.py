"""Gene-structure decoding (gpumeta.structure): exact posteriors, the order's effect on calls, fitting."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from gpumeta.errors import GpumetaError
from gpumeta.structure import GeneStructure, _gene_posteriors, fit_structure, gene_positions, site_posteriors


def brute_posteriors(candidates, violation, min_intron, min_exon):
    """Every subset of the candidates (position, kind, log weight) enumerated with its weight."""
    total, marginal = 0.0, [0.0] * len(candidates)
    for chosen in itertools.product((False, True), repeat=len(candidates)):
        sites = [c for c, on in zip(candidates, chosen) if on]
        weight = math.exp(sum(w for _, _, w in sites))
        for before, after in zip([None] + sites, sites + [None]):
            if before is None:
                weight *= violation if after is not None and after[1] == 1 else 1.0
            elif after is None:
                weight *= violation if before[1] == 0 else 1.0
            elif before[1] == after[1]:
                weight *= violation
            else:  # a donor, then an acceptor (an intron between) or an acceptor, then a donor (one exon)
                short = (after[0] - before[0] - 1 < min_intron if before[1] == 0
                         else after[0] - before[0] + 1 < min_exon)
                weight *= 0.0 if short else 1.0
        total += weight
        marginal = [m + (weight if on else 0.0) for m, on in zip(marginal, chosen)]
    return [m / total for m in marginal]


@pytest.mark.parametrize("seed", range(40))
def test_posteriors_equal_enumeration_of_every_parse(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 10))
    slots = sorted({(int(p), int(k)) for p, k in zip(rng.integers(0, 40, n), rng.integers(0, 2, n))})
    candidates = [(p, k, float(rng.normal(0, 2))) for p, k in slots]
    violation = float(rng.choice([0.0, 0.01, 0.3, 1.0]))
    min_intron, min_exon = [(5, 3), (10, 1), (0, 1)][seed % 3]
    got = _gene_posteriors([c[0] for c in candidates], [c[1] for c in candidates], [c[2] for c in candidates],
                           math.log(violation) if violation else -math.inf, min_intron, min_exon)
    np.testing.assert_allclose(got, brute_posteriors(candidates, violation, min_intron, min_exon), atol=1e-12)


def one_gene(length=400, donors=(), acceptors=()):
    """Rows of one gene: background probability 1e-4, the given {position: probability} per type."""
    donor, acceptor = np.full(length, 1e-4), np.full(length, 1e-4)
    for track, sites in ((donor, donors), (acceptor, acceptors)):
        for pos, p in dict(sites).items():
            track[pos] = p
    return np.array(["G1"] * length), np.arange(length), donor, acceptor


def test_a_consistent_chain_is_called_where_each_site_clears_its_threshold():
    genes, pos, donor, acceptor = one_gene(donors={50: 0.9, 250: 0.8}, acceptors={150: 0.95, 350: 0.7})
    posterior = site_posteriors(genes, pos, donor, acceptor, (0.5, 0.5))
    called = {(int(p), kind) for p, kind in zip(*np.nonzero(posterior >= 0.5))}
    assert called == {(50, 0), (250, 0), (150, 1), (350, 1)}
    # Below the floor a position is never a candidate.
    assert (posterior[donor < 1e-3, 0] == 0).all() and (posterior[acceptor < 1e-3, 1] == 0).all()


def test_nagnag_keeps_the_stronger_of_two_acceptors_a_few_nt_apart():
    genes, pos, donor, acceptor = one_gene(donors={50: 0.95}, acceptors={150: 0.9, 153: 0.7})
    strict = site_posteriors(genes, pos, donor, acceptor, (0.5, 0.5))
    assert strict[150, 1] > 0.5 > strict[153, 1]
    loose = site_posteriors(genes, pos, donor, acceptor, (0.5, 0.5), GeneStructure(violation=1.0))
    assert loose[153, 1] > 0.5  # with no penalty for a break both stand, as plain thresholds would call them


def test_a_weak_donor_between_two_strong_acceptors_is_rescued():
    genes, pos, donor, acceptor = one_gene(donors={50: 0.95, 240: 0.3}, acceptors={150: 0.95, 350: 0.95})
    posterior = site_posteriors(genes, pos, donor, acceptor, (0.5, 0.5))
    assert donor[240] < 0.5 < posterior[240, 0]


def test_rows_of_many_genes_in_any_order_give_the_same_posteriors():
    first = one_gene(donors={50: 0.9, 52: 0.6}, acceptors={150: 0.8})
    second = one_gene(length=300, donors={20: 0.7}, acceptors={120: 0.9, 200: 0.6})
    genes = np.concatenate([first[0], np.array(["G2"] * 300)])
    pos, donor, acceptor = (np.concatenate([a, b]) for a, b in zip(first[1:], second[1:]))
    expected = site_posteriors(genes, pos, donor, acceptor, (0.4, 0.6))
    shuffle = np.random.default_rng(0).permutation(len(genes))
    got = site_posteriors(genes[shuffle], pos[shuffle], donor[shuffle], acceptor[shuffle], (0.4, 0.6))
    np.testing.assert_allclose(got, expected[shuffle])
    alone = site_posteriors(*second, (0.4, 0.6))
    np.testing.assert_allclose(expected[len(first[0]):], alone)


def test_fit_chooses_the_strict_order_for_one_transcript_and_a_break_for_two_isoforms():
    # Ten genes: a donor, then a true acceptor and a decoy 3 nt off scored above the threshold.
    parts = [one_gene(donors={50: 0.9}, acceptors={150: 0.9, 153: 0.8}) for _ in range(10)]
    genes = np.concatenate([np.array([f"G{i}"] * 400) for i in range(10)])
    pos, donor, acceptor = (np.concatenate([p[j] for p in parts]) for j in (1, 2, 3))
    y_donor, y_acceptor = np.isin(pos, [50]), np.isin(pos, [150])
    structure, errors = fit_structure(genes, pos, y_donor, y_acceptor, donor, acceptor, (0.5, 0.5))
    assert structure.violation == 0.0 and errors == 0  # plain thresholds make 10 (every decoy)
    # Two isoforms pooled: both acceptors 60 nt apart are sites; at the cut 0.5 the strict order drops the
    # weaker of each pair.
    parts = [one_gene(donors={50: 0.9}, acceptors={150: 0.9, 210: 0.8}) for _ in range(10)]
    pos, donor, acceptor = (np.concatenate([p[j] for p in parts]) for j in (1, 2, 3))
    y_acceptor = np.isin(pos, [150, 210])
    strict = site_posteriors(genes, pos, donor, acceptor, (0.5, 0.5))
    assert ((strict[:, 1] >= 0.5) != y_acceptor).sum() == 10
    structure, errors = fit_structure(genes, pos, y_donor, y_acceptor, donor, acceptor, (0.5, 0.5), cuts=(0.5,))
    assert structure.violation > 0.0 and errors == 0


@pytest.mark.parametrize("call, message", [
    (lambda g: site_posteriors(g[0], g[1][:-1], g[2], g[3], (0.5, 0.5)), "differ in length"),
    (lambda g: site_posteriors(g[0], np.zeros_like(g[1]), g[2], g[3], (0.5, 0.5)), "appears more than once"),
    (lambda g: site_posteriors(g[0], g[1], g[2], g[3], (0.5, 1.0)), "thresholds"),
    (lambda g: GeneStructure(violation=2.0), "violation"),
    (lambda g: GeneStructure(cuts=(0.5,)), "cuts"),
    (lambda g: GeneStructure(min_exon=0), "min_exon"),
])
def test_bad_input_is_one_line_naming_the_value(call, message):
    with pytest.raises(GpumetaError, match=message):
        call(one_gene())


def test_rows_are_placed_in_their_genes_only_with_each_nucleotide_once():
    positions, why = gene_positions(["a", "a", "b"], pd.DataFrame({"position": [1, 2, 1]}))
    assert positions.tolist() == [1, 2, 1] and why == ""
    positions, why = gene_positions(["a", "a"], pd.DataFrame({"position": [3, 3]}))
    assert positions is None and why.startswith("a nucleotide appears in more than one row")
    assert gene_positions(["a"], pd.DataFrame({"x": [1]}))[0] is None
