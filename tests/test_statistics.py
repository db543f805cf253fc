"""gpumeta.evaluate.statistics: gene-bootstrap intervals and paired tests say when a difference is noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gpumeta.evaluate.statistics import (
    error_change_interval,
    fold_tests,
    heldout_differences,
    paired_test,
    resampled_sums,
    summary_lines,
)


def _per_gene(n_genes: int, meta_fp: int, seed: int = 0) -> pd.DataFrame:
    """Per-gene counts: 10 true sites of each type per gene; the base makes 4 FP and 2 FN per type and gene,
    the meta-model `meta_fp` FP (plus noise) and 1 FN."""
    rng = np.random.default_rng(seed)
    table = {"gene_id": [f"G{i}" for i in range(n_genes)], "n_rows": np.full(n_genes, 100)}
    for t in ("donor", "acceptor"):
        table[f"n_{t}"] = np.full(n_genes, 10)
        table[f"base_{t}_fp"] = np.full(n_genes, 4)
        table[f"base_{t}_fn"] = np.full(n_genes, 2)
        table[f"meta_{t}_fp"] = np.maximum(0, meta_fp + rng.integers(-3, 4, n_genes))
        table[f"meta_{t}_fn"] = np.ones(n_genes, dtype=int)
    table["base_correct"] = np.full(n_genes, 88)
    table["meta_correct"] = np.full(n_genes, 95)
    return pd.DataFrame(table)


def test_bootstrap_sums_resample_genes_with_replacement():
    values = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    sums = resampled_sums(values, n_boot=500, seed=1)
    assert sums.shape == (500, 2)
    assert set(np.unique(sums)) <= {0.0, 1.0, 2.0, 3.0}  # each gene drawn 0-3 times
    assert sums.mean(axis=0) == pytest.approx([1.0, 1.0], abs=0.15)  # unbiased for the total


def test_clear_gain_is_distinguishable_and_its_interval_covers_the_point():
    out = heldout_differences(_per_gene(40, meta_fp=0), n_boot=500)
    fp_fn = out["donor"]["fp_fn"]
    assert fp_fn["base"] == 40 * 6
    assert fp_fn["low"] <= fp_fn["difference"] <= fp_fn["high"] < 0
    assert "meta-model is better" in fp_fn["verdict"]
    f1 = out["acceptor"]["f1"]
    assert f1["base"] == pytest.approx(2 * 8 / (2 * 8 + 4 + 2))
    assert f1["difference"] > 0 and f1["low"] > 0
    assert out["all"]["accuracy"]["meta"] == pytest.approx(0.95)
    assert out["all"]["fp_fn"]["difference"] == fp_fn["difference"] + out["acceptor"]["fp_fn"]["difference"]


def test_no_real_difference_is_called_noise():
    # Meta FP+FN equals the base's on average (FP 5 +- 3 noise, FN 1 vs FP 4, FN 2): the interval spans 0.
    out = heldout_differences(_per_gene(12, meta_fp=5, seed=3), n_boot=500)
    block = out["donor"]["fp_fn"]
    assert block["low"] < 0 < block["high"]
    assert block["verdict"].startswith("not distinguishable")


def test_error_change_interval_is_relative():
    change, low, high = error_change_interval([10, 10, 10, 10], [5, 5, 5, 5], n_boot=200)
    assert change == pytest.approx(-0.5) and low == pytest.approx(-0.5) and high == pytest.approx(-0.5)


def test_paired_test_says_few_folds_cannot_decide():
    five = paired_test([0.5, 0.6, 0.55, 0.52, 0.58], [0.51, 0.59, 0.57, 0.50, 0.60])
    assert five["n"] == 5 and five["verdict"].startswith("not distinguishable")
    consistent = paired_test(np.linspace(0.5, 0.6, 8), np.linspace(0.5, 0.6, 8) + [0.1, 0.11, 0.09, 0.1,
                                                                                   0.12, 0.1, 0.1, 0.11])
    assert consistent["wilcoxon_p"] < 0.05 and "meta-model is better" in consistent["verdict"]
    three = paired_test([0.5, 0.6, 0.7], [0.6, 0.72, 0.79])
    assert "cannot go below p = 0.25" in three["verdict"] or "distinguishable from noise" in three["verdict"]


def test_fold_tests_and_summary_words():
    cv = pd.DataFrame({"base_macro_f1": [0.6, 0.62, 0.61], "test_macro_f1": [0.7, 0.71, 0.69],
                       "delta_fp": [-5, -7, -6], "delta_fn": [1, -1, 0]})
    tests = fold_tests(cv)
    assert set(tests) == {"test_macro_f1", "delta_fp", "delta_fn"}
    assert "better" in tests["delta_fp"]["verdict"]
    assert tests["delta_fn"]["verdict"].startswith("not distinguishable")
    lines = summary_lines(heldout_differences(_per_gene(20, 0), n_boot=200), tests)
    assert any(line.startswith("  donor FP+FN: base 120 -> meta") for line in lines)
    assert any("Across CV folds" in line for line in lines)
