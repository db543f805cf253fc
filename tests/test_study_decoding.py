"""scripts/study_decoding.py: its semi-Markov decoding is gpumeta.structure's when no exon weight is added, and
the exon weights (bonus, length prior) move the posteriors the way they say."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from study_decoding import candidates, decode, exon_log_lengths, exon_weight_of

from gpumeta.calibration import log_odds
from gpumeta.structure import GeneStructure, site_posteriors

THRESHOLDS = (0.5, 0.5)


def _rows(seed: int, n_genes: int = 3, length: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"gene_id": np.repeat([f"g{i}" for i in range(n_genes)], length),
                          "position": np.tile(np.arange(length), n_genes),
                          "donor": np.where(rng.random(n_genes * length) < 0.01, rng.random(n_genes * length), 0.0),
                          "acceptor": np.where(rng.random(n_genes * length) < 0.01, rng.random(n_genes * length), 0.0)})
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # rows in any order


def _decoded(rows: pd.DataFrame, violation: float, exon_weight) -> np.ndarray:
    proba = rows[["donor", "acceptor"]].to_numpy(np.float64)
    ratio = log_odds(proba) - log_odds(np.asarray(THRESHOLDS))
    return decode(candidates(rows, proba, ratio, 0.01), len(rows), violation, exon_weight)


@pytest.mark.parametrize("violation", [0.0, 0.01, 0.1, 1.0])
def test_without_exon_weights_it_is_gpumeta_structure(violation):
    rows = _rows(seed=int(violation * 100) + 1)
    ours = _decoded(rows, violation, exon_weight_of(0.0, 0.0, 0.0, 1.0))
    theirs = site_posteriors(rows["gene_id"], rows["position"], rows["donor"], rows["acceptor"], THRESHOLDS,
                             GeneStructure(violation=violation))
    assert np.abs(ours).sum() > 1.0  # candidates were decoded
    np.testing.assert_allclose(ours, theirs, atol=1e-9)


def _intron_with_a_weak_exon(exon_length: int) -> pd.DataFrame:
    """A strong donor, a weak acceptor-donor pair `exon_length` nt apart inside the intron, a strong acceptor."""
    n = 2000 + exon_length
    donor, acceptor = np.zeros(n), np.zeros(n)
    donor[100], acceptor[1000], donor[1000 + exon_length], acceptor[n - 100] = 0.95, 0.4, 0.4, 0.95
    return pd.DataFrame({"gene_id": "g", "position": np.arange(n), "donor": donor, "acceptor": acceptor})


def test_an_exon_bonus_raises_a_weak_exon_and_a_length_prior_prefers_typical_lengths():
    typical, long_ = _intron_with_a_weak_exon(100), _intron_with_a_weak_exon(3000)
    plain = exon_weight_of(0.0, 0.0, np.log(100), 0.5)
    bonus = exon_weight_of(2.0, 0.0, np.log(100), 0.5)
    prior = exon_weight_of(2.0, 1.0, np.log(100), 0.5)
    at = (1000, 1)  # the weak acceptor: its row, the acceptor column
    assert _decoded(typical, 0.0, plain)[at] < 0.5 < _decoded(typical, 0.0, bonus)[at]
    # with the prior, the 100-nt exon keeps its bonus, the 3,000-nt one loses it
    assert _decoded(typical, 0.0, prior)[at] == pytest.approx(_decoded(typical, 0.0, bonus)[at])
    assert _decoded(long_, 0.0, prior)[at] < _decoded(long_, 0.0, plain)[at]


def test_exon_lengths_are_acceptor_to_next_donor_within_a_gene():
    rows = pd.DataFrame({"gene_id": ["a"] * 5 + ["b"] * 3, "position": [10, 50, 170, 400, 520, 5, 90, 200],
                         "y": [1, 2, 1, 2, 0, 2, 1, 2]})  # 1 donor, 2 acceptor (gpumeta's LABELS)
    np.testing.assert_allclose(np.exp(exon_log_lengths(rows.sample(frac=1.0, random_state=0))), [120, 85])
