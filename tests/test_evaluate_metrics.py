"""Metrics against small cases computed by hand (see each test's comments)."""

from __future__ import annotations

import numpy as np
import pytest

from gpumeta.errors import GpumetaError
from gpumeta.evaluate.metrics import (
    FOLD_COLUMNS,
    average_precision,
    best_f1_threshold,
    brier_score,
    calibration_stats,
    evaluate_predictions,
    expected_calibration_error,
    fold_metrics,
    learning_curve_gaps,
    roc_auc,
    top_k_per_gene,
)

# Gene A rows 0-2, gene B rows 3-5.   y: donor, neither, donor | neither, acceptor, neither
Y = np.array([1, 0, 1, 0, 2, 0], dtype=np.int8)
GENES = np.array(["A", "A", "A", "B", "B", "B"], dtype=object)
BASE_D = np.array([0.9, 0.7, 0.3, 0.1, 0.0, 0.2])   # base: FP at row 1, FN at row 2
META_D = np.array([0.8, 0.2, 0.6, 0.6, 0.0, 0.1])   # meta: fixes rows 1 and 2, introduces an FP at row 3
BASE_A = np.array([0, 0, 0, 0, 0.8, 0])
META_A = np.array([0, 0, 0, 0, 0.9, 0])


def _proba(d, a):
    return np.stack([1 - d - a, d, a], axis=1)


BASE, META = _proba(BASE_D, BASE_A), _proba(META_D, META_A)
HALF = {"donor": 0.5, "acceptor": 0.5}


def test_counts_fixed_introduced_and_macro_f1():
    summary, _ = evaluate_predictions(Y, BASE, META, GENES, HALF, HALF)
    donor = summary["site_types"]["donor"]["at_0.5"]
    assert (donor["base"]["tp"], donor["base"]["fp"], donor["base"]["fn"]) == (1, 1, 1)
    assert (donor["meta"]["tp"], donor["meta"]["fp"], donor["meta"]["fn"]) == (2, 1, 0)
    assert donor["errors_fixed"] == 2 and donor["errors_introduced"] == 1
    # argmax: base F1 neither 2/3, donor 1/2, acceptor 1; meta 0.8, 0.8, 1.
    assert summary["macro_f1"]["base"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert summary["macro_f1"]["meta"] == pytest.approx(2.6 / 3)
    assert summary["per_class"]["donor"]["meta"]["precision"] == pytest.approx(2 / 3)
    assert summary["per_class"]["acceptor"]["base"]["roc_auc"] == pytest.approx(1.0)
    assert (summary["n_rows"], summary["n_genes"], summary["weighted"]) == (6, 2, False)


def test_tuned_thresholds_are_each_models_own():
    summary, _ = evaluate_predictions(Y, BASE, META, GENES, {"donor": 0.25, "acceptor": 0.5}, HALF)
    tuned = summary["site_types"]["donor"]["tuned"]
    # base at 0.25 calls rows 0, 1, 2: TP 2, FP 1, FN 0; meta unchanged at 0.5.
    assert (tuned["base"]["tp"], tuned["base"]["fp"], tuned["base"]["fn"]) == (2, 1, 0)
    assert tuned["base_threshold"] == 0.25 and tuned["meta"]["fp"] == 1
    assert tuned["errors_fixed"] == 1 and tuned["errors_introduced"] == 1  # row 1 fixed, row 3 introduced


def test_weights_scale_counts():
    w = np.array([1, 1, 1, 4, 1, 4], dtype=np.float32)
    summary, per_gene = evaluate_predictions(Y, BASE, META, GENES, HALF, HALF, weights=w)
    donor = summary["site_types"]["donor"]["at_0.5"]
    assert donor["base"]["fp"] == pytest.approx(1.0) and donor["meta"]["fp"] == pytest.approx(4.0)
    assert donor["errors_introduced"] == pytest.approx(4.0) and summary["weighted"]
    assert per_gene.set_index("gene_id").loc["B", "meta_donor_fp"] == pytest.approx(4.0)
    with pytest.raises(GpumetaError, match="weights"):
        evaluate_predictions(Y, BASE, META, GENES, HALF, HALF, weights=np.ones(5))


def test_per_gene_rows_f1_and_top_k_rank_every_row():
    summary, per_gene = evaluate_predictions(Y, BASE, META, GENES, HALF, HALF)
    a, b = per_gene.set_index("gene_id").loc["A"], per_gene.set_index("gene_id").loc["B"]
    assert (a["n_rows"], a["n_donor"], a["n_acceptor"]) == (3, 2, 0)
    assert (a["base_donor_f1"], a["meta_donor_f1"], a["delta_donor_f1"]) == (0.5, 1.0, 0.5)
    assert (a["base_fp"], a["base_fn"], a["meta_fp"], a["meta_fn"]) == (1, 1, 0, 0)
    # Gene B has no donor: base calls none (F1 undefined), meta calls one (F1 0).
    assert np.isnan(b["base_donor_f1"]) and b["meta_donor_f1"] == 0.0 and b["delta_fp"] == 1
    # Gene A, k = 2 donors: base's two best rows are 0 and 1 (a non-site), so 1/2; meta's are 0 and 2.
    assert (a["base_donor_top_k"], a["meta_donor_top_k"]) == (0.5, 1.0)
    assert np.isnan(b["base_donor_top_k"]) and b["meta_acceptor_top_k"] == 1.0
    assert summary["top_k"]["donor"] == {"base": 0.5, "meta": 1.0}


def test_top_k_per_gene_counts_hits():
    codes = np.array([0, 0, 0, 0, 1, 1])
    hits, k = top_k_per_gene(np.array([1, 0, 1, 1, 0, 1], bool), np.array([.9, .8, .7, .1, .5, .4]), codes, 2)
    # gene 0: k=3, top-3 rows 0,1,2 hold 2 sites; gene 1: k=1, top row 4 is not a site.
    assert k.tolist() == [3, 1] and hits.tolist() == [2, 0]


def test_top_k_per_gene_equals_ranking_each_gene_whole_with_ties():
    # The rows below every true site of their gene are dropped before the sort: the counts must equal
    # ranking each gene's rows whole (stable by row order on tied scores).
    rng = np.random.default_rng(1)
    for _ in range(100):
        n, n_genes = int(rng.integers(1, 200)), int(rng.integers(1, 6))
        score = np.round(rng.random(n), 1)  # many ties
        y_bin, codes = rng.random(n) < 0.2, rng.integers(0, n_genes, n)
        hits, k = top_k_per_gene(y_bin, score, codes, n_genes)
        for g in range(n_genes):
            rows = np.flatnonzero(codes == g)
            ranked = rows[np.argsort(-score[rows], kind="stable")]
            assert k[g] == y_bin[rows].sum() and hits[g] == y_bin[ranked[: k[g]]].sum()


def test_best_f1_threshold():
    y = np.array([1, 1, 0, 1, 0])
    score = np.array([0.9, 0.8, 0.7, 0.4, 0.1])
    # F1 at 0.9 .5, 0.8 .8, 0.7 .667, 0.4 .857, 0.1 .75
    assert best_f1_threshold(y, score) == pytest.approx(0.4)
    # Weight 5 on the negative at 0.7: cutting at 0.4 now costs 5 FP, so 0.8 wins.
    assert best_f1_threshold(y, score, weights=np.array([1, 1, 5, 1, 1])) == pytest.approx(0.8)
    # Equal scores cannot be split: the only cuts are 0.5 (both rows) and 0.1.
    assert best_f1_threshold(np.array([1, 0, 0]), np.array([0.5, 0.5, 0.1])) == pytest.approx(0.5)
    with pytest.raises(GpumetaError, match="no positive"):
        best_f1_threshold(np.zeros(3), score[:3])


@pytest.mark.parametrize("weighted", [False, True])
def test_best_f1_threshold_equals_a_scan_of_every_cut(weighted):
    # Only cuts at a positive's score are scanned; a scan of every distinct score must agree, ties included.
    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(2, 300))
        y = rng.random(n) < rng.uniform(0.01, 0.9)
        y[0] = True
        score = np.round(rng.random(n), 1).astype(np.float32)
        w = rng.choice([0.0, 1.0, 3.0], size=n) if weighted else np.ones(n)
        w[0] = 1.0
        cuts = np.unique(score)[::-1]
        f1 = [2 * w[y & (score >= c)].sum() / (w[y & (score >= c)].sum() + w[score >= c].sum() + w[y].sum())
              for c in cuts]
        assert best_f1_threshold(y, score, w if weighted else None) == cuts[int(np.argmax(f1))]


def test_fold_metrics_row():
    row = fold_metrics(2, Y, BASE, META, GENES)
    assert tuple(row) == FOLD_COLUMNS and row["fold"] == 2 and row["test_rows"] == 6 and row["test_genes"] == 2
    # splice vs not at 0.5 on d + a: base calls rows 0, 1, 4 (TP 2 FP 1 FN 1), meta rows 0, 2, 3, 4 (3, 1, 0).
    assert row["base_f1"] == pytest.approx(4 / 6) and row["meta_f1"] == pytest.approx(6 / 7)
    assert (row["delta_fp"], row["delta_fn"]) == (0, -1)
    assert row["test_macro_f1"] == pytest.approx(2.6 / 3) and row["base_macro_f1"] == pytest.approx(0.7222, abs=1e-4)
    # top-k over gene-type pairs with sites: meta A-donor 1, B-acceptor 1; base A-donor 0.5, B-acceptor 1.
    assert row["top_k_accuracy"] == 1.0 and row["base_top_k_accuracy"] == pytest.approx(0.75)


def test_calibration_figures():
    y_bin = np.array([1, 0, 1, 0])
    prob = np.array([0.9, 0.9, 0.1, 0.1])
    # two bins, each half the rows, |0.9 - 0.5| and |0.1 - 0.5|
    assert expected_calibration_error(y_bin, prob) == pytest.approx(0.4)
    assert brier_score(y_bin, prob) == pytest.approx(0.41)
    stats = calibration_stats(Y, BASE, META)
    assert set(stats) == {"neither", "donor", "acceptor"}
    assert stats["donor"]["brier_before"] == pytest.approx(brier_score(Y == 1, BASE[:, 1]))


def test_learning_curve_gap_flags():
    evals = {"donor": {"train": {"logloss": [0.5, 0.2, 0.1]}, "validation": {"logloss": [0.5, 0.3, 0.4]},
                       "best_iteration": 1}}
    gaps = learning_curve_gaps([("fold 1", evals)])
    assert len(gaps) == 1 and gaps.loc[0, "best_iteration"] == 1
    assert gaps.loc[0, "gap"] == pytest.approx(0.1) and gaps.loc[0, "relative_gap"] == pytest.approx(1 / 3)
    assert not gaps.loc[0, "flagged"]
    assert learning_curve_gaps([("fold 1", evals)], max_relative_gap=0.2).loc[0, "flagged"]
    # A tiny absolute gap between tiny losses is not overfitting, however large relative to the loss.
    tiny = {"donor": {"train": {"logloss": [0.001]}, "validation": {"logloss": [0.005]}, "best_iteration": 0}}
    assert not learning_curve_gaps([("fold 1", tiny)]).loc[0, "flagged"]


@pytest.mark.parametrize("weighted", [False, True])
def test_average_precision_and_roc_auc_equal_scikit_learn_with_ties(weighted):
    # NumPy on one sort replaces scikit-learn's calls (their input checks dominated evaluation time); the
    # figures must stay scikit-learn's, tied scores (rounded to 2 decimals) and zero weights included.
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.1
    score = np.round(rng.random(2000) * 0.6 + 0.4 * y * rng.random(2000), 2)
    w = rng.choice([0.0, 1.0, 2.5], size=2000) if weighted else None
    assert average_precision(y, score, w) == pytest.approx(average_precision_score(y, score, sample_weight=w))
    assert roc_auc(y, score, w) == pytest.approx(roc_auc_score(y, score, sample_weight=w))
    assert np.isnan(average_precision(np.zeros(5, bool), score[:5])) and np.isnan(roc_auc(np.ones(5, bool), score[:5]))
    # Rare positives among float32 scores, as at every nucleotide of a gene (and the "neither" class, the reverse)
    rare = rng.random(20000) < 0.002
    rare_score = np.where(rare, rng.random(20000), rng.random(20000) ** 4).astype(np.float32)
    for truth in (rare, ~rare):
        assert average_precision(truth, rare_score) == pytest.approx(average_precision_score(truth, rare_score))
        assert roc_auc(truth, rare_score) == pytest.approx(roc_auc_score(truth, rare_score))
