"""gpumeta.evaluate.importance: xgboost weight/cover, permutation on held-out genes, mutual information,
fold stability, in RUN/feature_importance_analysis/."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from datasets import make_dataset

from gpumeta.dataset import load_dataset
from gpumeta.evaluate.importance import (
    analyse_feature_importance,
    booster_importance,
    fold_stability,
    sample_rows,
)
from gpumeta.train import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("importance")
    make_dataset(root / "ds", n_genes=12, rows_per_gene=80)
    result = train(root / "ds", root / "run", device="cpu", quiet=True, n_folds=2, skip_shap=True,
                   minimal_diagnostics=True, min_validation_sites=3, min_validation_genes=1,
                   booster={"n_estimators": 30, "max_depth": 2, "learning_rate": 0.5})
    return result, load_dataset(root / "ds", "cpu")


def test_sample_keeps_sites_first():
    y = np.array([0] * 90 + [1] * 6 + [2] * 4)
    keep = sample_rows(y, 20, seed=0)
    assert len(keep) == 20 and (y[keep] != 0).sum() == 10  # every site, then other rows
    assert len(sample_rows(y, 1000, seed=0)) == 100


def test_stability_of_identical_and_reversed_rankings():
    same, table = fold_stability({"a": {"x": 3, "y": 2, "z": 1}, "b": {"x": 30, "y": 20, "z": 10}}, top=2)
    assert same["spearman_mean"] == pytest.approx(1.0) and same["top2_jaccard_mean"] == 1.0
    assert table.iloc[0]["feature"] == "x" and table.iloc[0]["folds_in_top"] == 2
    reversed_, _ = fold_stability({"a": {"x": 3, "y": 2, "z": 1}, "b": {"x": 1, "y": 2, "z": 3}}, top=1)
    assert reversed_["spearman_mean"] == pytest.approx(-1.0) and reversed_["top1_jaccard_mean"] == 0.0


def test_analysis_on_heldout_genes(trained, tmp_path):
    result, data = trained
    model = result.model
    weight = booster_importance(model, "weight")
    assert weight.to_numpy().sum() > 0 and (weight.to_numpy() >= 0).all()
    test_genes = result.splits["test"]
    gains = {f"fold_{k}": json.loads((result.run_dir / "folds" / f"fold_{k}" / "fold.json").read_text())
             ["importance"] for k in (1, 2)}
    summary = analyse_feature_importance(model, data.select_genes(test_genes), tmp_path, gains, max_rows=500,
                                         max_features=4, seed=0)
    out = tmp_path / "feature_importance_analysis"
    for name in ("xgboost_importance.csv", "permutation_importance.csv", "mutual_information.csv",
                 "fold_stability.csv", "importance_summary.json", "permutation_importance.png",
                 "mutual_information.png", "xgboost_weight.png"):
        assert (out / name).is_file(), name
    assert summary["n_genes"] == len(test_genes) and summary["permutation"]["features"] == 4
    permutation = pd.read_csv(out / "permutation_importance.csv").set_index("feature")
    mi = pd.read_csv(out / "mutual_information.csv").set_index("feature")
    # Shuffling the base scores the model splits on most must cost it precision on held-out genes.
    assert permutation["ap_drop_mean"].max() > 0
    assert permutation.index[0] in {"donor_score", "acceptor_score", "neither_score", "motif"}
    assert mi.loc["donor_score", "mutual_information"] > mi.loc["3mer_GTA", "mutual_information"]
    assert summary["stability"]["n_folds"] == 2


def test_ensemble_run_explains_its_instances(trained, tmp_path):
    # An ensemble's summary section (report.ensemble_table): instances, genes each, skill, combination rule.
    from gpumeta.evaluate.report import COMBINATION_RULE, ENSEMBLE_FILE, ensemble_table, render_training_summary
    from gpumeta.model import EnsembleModel

    result, _ = trained
    single = result.model
    EnsembleModel(instances=[single, single], weights=[0.6, 0.2], calibrators=single.calibrators,
                  thresholds=single.thresholds, base_thresholds=single.base_thresholds).save(tmp_path / "model")
    table = ensemble_table(tmp_path / "model")
    assert table["n_genes"].tolist() == [len(single.training_genes)] * 2
    assert table["validation_skill"].tolist() == [0.6, 0.2] and table["weight"].tolist() == pytest.approx([.75, .25])
    assert ensemble_table(result.run_dir / "model") is None  # a single model has no instances
    text = render_training_summary(tmp_path)
    assert f"2 instances, {len(single.training_genes)}-{len(single.training_genes)} genes each" in text
    assert COMBINATION_RULE in text and ENSEMBLE_FILE in text and "validation skill 0.6000" in text
