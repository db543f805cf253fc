"""Gated scoring (gpumeta.gating): the meta-model re-scores only where the base model is unsure."""

import numpy as np

from gpumeta.gating import gate_rows, gated_proba, rescore_mask
from gpumeta.schema import LABELS


def _loop_mask(donor, acceptor, floor, context):
    unsure = np.maximum(donor, acceptor) >= floor
    return np.array([unsure[max(0, i - context): i + context + 1].any() for i in range(len(donor))])


def _proba(donor, acceptor):
    out = np.zeros((len(donor), 3), dtype=np.float32)
    out[:, LABELS.index("donor")], out[:, LABELS.index("acceptor")] = donor, acceptor
    out[:, LABELS.index("neither")] = 1 - donor - acceptor
    return out


def test_rescore_mask_is_the_floor_dilated_by_context():
    rng = np.random.default_rng(0)
    donor, acceptor = rng.random(300) ** 30 / 2, rng.random(300) ** 30 / 2
    for context in (0, 1, 2, 5):
        mask = rescore_mask(donor, acceptor, 0.01, context)
        assert np.array_equal(mask, _loop_mask(donor, acceptor, 0.01, context))
    assert 0 < rescore_mask(donor, acceptor, 0.01, 0).sum() < rescore_mask(donor, acceptor, 0.01, 5).sum() < 300


def test_gate_rows_on_shuffled_genes_equals_the_region_rule_and_stays_inside_each_gene():
    rng = np.random.default_rng(1)
    genes, positions, donors, acceptors, expected = [], [], [], [], []
    for gene, start, length in (("g1", 1000, 120), ("g2", 1125, 80), ("g3", 50, 60)):  # g2 starts 5 nt after g1 ends
        donor, acceptor = rng.random(length) ** 10 / 2, rng.random(length) ** 10 / 2
        donor[0] = donor[-1] = 0.9  # unsure at both gene edges: the window must not reach the neighbour gene
        genes += [gene] * length
        positions.append(np.arange(start, start + length))
        donors.append(donor)
        acceptors.append(acceptor)
        expected.append(rescore_mask(donor, acceptor, 0.001, 5))
    order = rng.permutation(sum(len(p) for p in positions))
    base = _proba(np.concatenate(donors), np.concatenate(acceptors))
    mask = gate_rows(np.array(genes)[order], np.concatenate(positions)[order], base[order], 0.001, 5)
    assert np.array_equal(mask, np.concatenate(expected)[order])


def test_gate_rows_counts_only_rows_present():
    # Sampled rows: an unsure row 3 nt away gates its neighbour; one 10 nt away (context 5) does not.
    base = _proba(np.array([0.5, 0.0, 0.0]), np.zeros(3))
    mask = gate_rows(np.array(["g", "g", "g"]), np.array([100, 103, 113]), base, 0.001, 5)
    assert mask.tolist() == [True, True, False]


def test_gated_proba_takes_meta_only_where_rescored():
    base = _proba(np.array([0.1, 0.2, 0.3]), np.array([0.0, 0.1, 0.0]))
    meta = _proba(np.array([0.5, 0.6, 0.7]), np.array([0.2, 0.2, 0.2]))
    out = gated_proba(base, meta, np.array([True, False, True]))
    assert np.array_equal(out, np.stack([meta[0], base[1], meta[2]]))
