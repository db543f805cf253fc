"""Small datasets (issue 9 section 1): the meta-model keeps every class, and its final model is trained in the
regime of the CV models whose out-of-fold margins fit its calibrators and thresholds.

On real chr22 data (18 genes), the final donor booster once early-stopped at round 17 on ONE validation gene
while the folds stopped at rounds 30-221: the calibrated donor probability sat near 0.40 at every donor and
no donor was called. Here 18 synthetic genes with ~6 sites of a type per gene give the same conditions (every
carved validation set far below 50 sites of a type).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import make_dataset

from gpumeta.model import SITE_TYPES
from gpumeta.schema import LABELS
from gpumeta.synth import synth_dataset
from gpumeta.train import train
from gpumeta.train.workflow import _pooled_rounds

SMALL = {"skip_shap": True, "minimal_diagnostics": True, "n_folds": 3,
         "booster": {"n_estimators": 80, "learning_rate": 0.2, "early_stopping_rounds": 10}}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    data = synth_dataset(tmp_path_factory.mktemp("small") / "ds", n_genes=18, rows_per_gene=160, seed=3,
                         site_fraction=0.06, kmer_sizes=(2,), window=3)
    result = train(data, tmp_path_factory.mktemp("runs") / "run", device="cpu", quiet=True, **SMALL)
    return result, json.loads((result.run_dir / "run_info.json").read_text())


def test_meta_model_keeps_every_class_on_held_out_genes(small_run):
    result, _info = small_run
    headline = result.evaluation[result.evaluation["headline"]]
    for site_type in SITE_TYPES:
        for at in ("at_0.5", "tuned"):
            figures = headline["site_types"][site_type][at]
            assert figures["meta"]["tp"] > 0, (site_type, at)
            assert figures["meta"]["f1"] >= figures["base"]["f1"] - 0.1, (site_type, at, figures)


def test_small_validation_sets_do_not_early_stop_and_say_so(small_run):
    result, info = small_run
    assert not any(fold["early_stopped"] for fold in result.splits["folds"])
    assert any("validation sets too small to early-stop on" in w for w in info["warnings"])
    run_log = (result.run_dir / "run.log").read_text()
    assert f"final model starts: {len(result.splits['train'])} training genes, 0 validation genes" in run_log


def test_final_model_is_trained_in_the_regime_of_the_cv_models(small_run):
    result, info = small_run
    fold_rounds = [fold["rounds"] for fold in info["fold_rounds"].values()]
    assert len(fold_rounds) == 3 and all(r["rule"].startswith("fixed") for r in info["fold_rounds"].values())
    final = info["final_rounds"]["rounds"]
    for label in LABELS:
        assert final[label] == round(float(np.median([r[label] for r in fold_rounds]))), label
        assert len(result.model.evals_result[label]["train"]["logloss"]) == final[label]
    # All training genes, no carve-out: the same data regime as the folds, which train on all theirs.
    assert result.splits["final"]["validation"] == []
    assert sorted(result.model.training_genes) == sorted(result.splits["train"])
    # Its calibrated scores on training genes agree with the out-of-fold ones the calibrators were fitted on.
    for site_type in SITE_TYPES:
        figures = info["final_vs_cv"][site_type]
        assert figures["final_mean_proba_at_sites"] >= figures["oof_mean_proba_at_sites"] - 0.1, figures
        assert figures["final_f1_at_threshold"] >= figures["oof_f1_at_threshold"] - 0.1, figures
    assert not any("disagrees" in w for w in info["warnings"])


def test_pooled_rounds_minimise_the_loss_summed_over_folds():
    def curves(losses):
        return {label: {"validation": {"logloss": losses}} for label in LABELS}

    # Fold A alone would stop at round 1, fold B at round 4; weighted by rows, the pooled minimum is round 3.
    a, b = curves([0.30, 0.31, 0.32, 0.40]), curves([0.50, 0.40, 0.30, 0.29])
    assert _pooled_rounds([a, b], [100, 300]) == [3, 3, 3]


def test_folds_early_stop_when_their_validation_sets_are_large_enough(tmp_path):
    data = make_dataset(tmp_path / "ds", n_genes=24, rows_per_gene=80)
    result = train(data, tmp_path / "run", device="cpu", quiet=True, min_validation_sites=1,
                   min_validation_genes=1, **SMALL)
    info = json.loads((result.run_dir / "run_info.json").read_text())
    assert all(fold["early_stopped"] for fold in result.splits["folds"])
    assert all(r["rule"].startswith("early-stopped on") for r in info["fold_rounds"].values())
    fold_rounds = [r["rounds"] for r in info["fold_rounds"].values()]
    for label in LABELS:
        assert info["final_rounds"]["rounds"][label] == round(float(np.median([r[label] for r in fold_rounds])))
    assert not any("validation sets too small" in w for w in info["warnings"])
