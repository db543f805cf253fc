"""Boosting from the base model's logit (train's booster.boost_from_base, issue 11): the learners start
from it in training, the model adds it to every margin it answers (probabilities, decisions, SHAP, the
files), and learners that cannot start from it say so in one line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
from datasets import make_dataset

from gpumeta.annotate import annotate, recipe_of_dataset
from gpumeta.backend import get_backend
from gpumeta.builder import build_dataset
from gpumeta.builder.annotation import read_annotation
from gpumeta.calibration import apply_calibrator
from gpumeta.cli import main
from gpumeta.dataset import load_dataset
from gpumeta.errors import GpumetaError
from gpumeta.learners import get_algorithm
from gpumeta.model import (
    MetaModel,
    base_margins,
    boost_from_base_classes,
    boost_from_base_features,
    load_model,
    logit_columns,
)
from gpumeta.schema import LABELS, is_probability_feature
from gpumeta.synth import synth_genome
from gpumeta.train.config import load_config
from gpumeta.train.strategies import fit_model

FEATURES = ["donor_score", "acceptor_score", "motif", "noise"]
LOGIT = ["donor_score", "acceptor_score"]
XGB = {"n_estimators": 15, "early_stopping_rounds": 5, "max_depth": 3}


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _data(n_genes: int = 30, rows: int = 80, seed: int = 3):
    """Rows where the base scores rank the sites well and a motif explains the sites they miss."""
    rng = np.random.default_rng(seed)
    n = n_genes * rows
    y = rng.choice(3, n, p=[0.8, 0.1, 0.1])
    missed = rng.random(n) < 0.3
    donor = np.where((y == 1) & ~missed, 0.8, 0.02) * rng.random(n) ** 0.3
    acceptor = np.where((y == 2) & ~missed, 0.8, 0.02) * rng.random(n) ** 0.3
    motif = np.where(missed & (y > 0), y, 0) + rng.normal(0, 0.3, n)
    X = np.column_stack([donor, acceptor, motif, rng.normal(size=n)]).astype(np.float32)
    gene = np.repeat(np.arange(n_genes), rows)
    val, test = round(0.6 * n_genes), round(0.73 * n_genes)  # 60 % train, 13 % validation, the rest held out
    return X, y, (np.flatnonzero(gene < val), np.flatnonzero((gene >= val) & (gene < test)),
                  np.flatnonzero(gene >= test))


def _fit(X, y, train_rows, val_rows, n_rounds=None, classes=LABELS, algorithm="xgboost", params=XGB) -> MetaModel:
    """A model whose `classes` start from the base logit (the others from zero; () boosts all from zero)."""
    learner = get_algorithm(algorithm, params)
    base = boost_from_base_features(FEATURES, list(classes))
    learners = learner.fit_one_vs_rest(get_backend("cpu"), X, y, train_rows, val_rows,
                                       [FEATURES.index(f) for f in LOGIT], seed=0, nthread=1, n_rounds=n_rounds,
                                       base_margin_idx=[FEATURES.index(f) for f in base],
                                       base_margin_classes=list(classes))
    return MetaModel(learners=learners, feature_names=list(FEATURES), logit_features=list(LOGIT),
                     algorithm=algorithm, algorithm_params=learner.get_params(), base_margin_features=base,
                     base_margin_classes=list(classes), calibrators=[{"method": "platt", "a": 0.9, "b": -0.2}] * 3)


def test_base_margins_are_the_logits_of_the_base_scores_and_of_their_rest():
    X = np.array([[0.2, 0.7, 5.0], [0.0, 1.0, 1.0], [0.5, 0.5, 0.0]], dtype=np.float64)
    got = base_margins(X, [0, 1], np)
    expected = _logit(np.column_stack([1 - X[:, 0] - X[:, 1], X[:, 0], X[:, 1]]))
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert got[1, 0] == pytest.approx(_logit(0.0)) and got[1, 2] == pytest.approx(_logit(1.0))  # clipped, finite


def test_boosters_train_from_the_base_logit_as_xgboost_itself_does():
    """Fixed rounds: each class's booster equals one xgb.train on the learner's view with base_margin."""
    X, y, (train_rows, val_rows, _) = _data()
    model = _fit(X, y, train_rows, val_rows, n_rounds=[6, 6, 6])
    view = logit_columns(X[train_rows], [0, 1], np)
    start = base_margins(X[train_rows], [0, 1], np)
    params = get_algorithm("xgboost", XGB).booster_params(get_backend("cpu"), 0, 1)
    for k, learner in enumerate(model.learners):
        direct = xgb.train(params, xgb.QuantileDMatrix(view, label=(y[train_rows] == k).astype(np.float32),
                                                       base_margin=start[:, k], max_bin=params["max_bin"]),
                           num_boost_round=6)
        trees = xgb.DMatrix(view, base_margin=np.zeros(len(view)))
        np.testing.assert_allclose(learner.booster.predict(trees, output_margin=True),
                                   direct.predict(trees, output_margin=True), rtol=1e-5, atol=1e-5)


def _library_fit(algorithm: str, view, label, start, view_val, label_val, start_val, rounds: int):
    """The library's own fit from an init score (LightGBM init_score, CatBoost baseline), with the learner's
    parameters and fixed rounds, and its raw scores without the init score: (fit, raw score of a matrix)."""
    learner = get_algorithm(algorithm, LIBRARY_FAST[algorithm])
    if algorithm == "lightgbm":
        import lightgbm as lgb

        p = learner.params
        params = {"objective": "binary", "learning_rate": p["learning_rate"], "num_leaves": p["num_leaves"],
                  "max_depth": p["max_depth"], "min_child_samples": p["min_child_samples"],
                  "bagging_fraction": p["subsample"], "bagging_freq": 1, "feature_fraction": p["colsample_bytree"],
                  "lambda_l2": p["reg_lambda"], "max_bin": p["max_bin"], "seed": 0, "num_threads": 1,
                  "deterministic": True, "verbosity": -1}
        dtrain = lgb.Dataset(view, label=label, init_score=start, params={"max_bin": p["max_bin"]})
        booster = lgb.train(params, dtrain, num_boost_round=rounds)
        return lambda X: booster.predict(X, raw_score=True)
    from catboost import CatBoost, Pool

    p = learner.params
    model = CatBoost({"loss_function": "Logloss", "eval_metric": "Logloss", "iterations": rounds,
                      "learning_rate": p["learning_rate"], "depth": p["depth"], "l2_leaf_reg": p["l2_leaf_reg"],
                      "border_count": p["border_count"], "random_seed": 0, "thread_count": 1, "task_type": "CPU",
                      "allow_writing_files": False, "verbose": False, "use_best_model": False})
    model.fit(Pool(view, label=label, baseline=start), eval_set=Pool(view_val, label=label_val, baseline=start_val))
    return lambda X: model.predict(Pool(X), prediction_type="RawFormulaVal")


LIBRARY_FAST = {"lightgbm": {"n_estimators": 8, "num_leaves": 7}, "catboost": {"n_estimators": 8, "depth": 3}}


@pytest.mark.parametrize("algorithm", list(LIBRARY_FAST))
def test_lightgbm_and_catboost_boost_from_their_init_score(algorithm):
    """Fixed rounds: each class's model equals the library's own fit from the base logit as its init score,
    and the model's margin is that fit's raw score plus the base logit (the files hold trees only)."""
    pytest.importorskip(algorithm)
    X, y, (train_rows, val_rows, test_rows) = _data(n_genes=20, rows=60)
    assert len(test_rows) > 200
    learner = get_algorithm(algorithm, LIBRARY_FAST[algorithm])
    learners = learner.fit_one_vs_rest(get_backend("cpu"), X, y, train_rows, val_rows, [0, 1], seed=0, nthread=1,
                                       n_rounds=[8, 8, 8], base_margin_idx=[0, 1])
    model = MetaModel(learners=learners, feature_names=list(FEATURES), logit_features=list(LOGIT),
                      algorithm=algorithm, base_margin_features=list(LOGIT))
    view, view_test = (logit_columns(X[rows], [0, 1], np) for rows in (train_rows, test_rows))
    start, start_val, start_test = (base_margins(X[rows], [0, 1], np) for rows in (train_rows, val_rows, test_rows))
    for k in range(3):
        raw = _library_fit(algorithm, view, (y[train_rows] == k).astype(np.float32), start[:, k],
                           logit_columns(X[val_rows], [0, 1], np), (y[val_rows] == k).astype(np.float32),
                           start_val[:, k], 8)
        np.testing.assert_allclose(model.margins(X[test_rows])[:, k], raw(view_test) + start_test[:, k],
                                   rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.contributions(X[test_rows]).sum(axis=-1).T, model.margins(X[test_rows]),
                               rtol=1e-4, atol=1e-4)


def test_margins_are_the_boosters_plus_the_base_logit_and_probabilities_follow():
    X, y, (train_rows, val_rows, test_rows) = _data()
    model = _fit(X, y, train_rows, val_rows)
    assert model.boost_from_base
    X_test = X[test_rows]
    view = xgb.DMatrix(logit_columns(X_test, [0, 1], np), base_margin=np.zeros(len(X_test)))
    start = _logit(np.column_stack([1 - X_test[:, 0] - X_test[:, 1], X_test[:, 0], X_test[:, 1]]))
    trees = np.column_stack([learner.booster.predict(view, output_margin=True) for learner in model.learners])
    margins = model.margins(X_test)
    np.testing.assert_allclose(margins, trees + start, rtol=1e-5, atol=1e-4)
    proba = np.column_stack([apply_calibrator(c, margins[:, k]) for k, c in enumerate(model.calibrators)])
    np.testing.assert_allclose(model.predict_proba(X_test), proba / proba.sum(axis=1, keepdims=True), rtol=1e-6)
    # The base logit moves the margins: the same trees from zero would give another answer.
    assert np.abs(margins - trees).max() > 1.0


def test_shap_has_the_base_logit_as_its_own_term_and_sums_to_the_margin():
    X, y, (train_rows, val_rows, test_rows) = _data()
    model = _fit(X, y, train_rows, val_rows)
    X_test = X[test_rows][:200]
    contributions = model.contributions(X_test)
    np.testing.assert_allclose(contributions.sum(axis=-1).T, model.margins(X_test), rtol=1e-4, atol=1e-3)
    bias_less_base = contributions[:, :, -1] - base_margins(X_test, [0, 1], np).T
    np.testing.assert_allclose(bias_less_base, bias_less_base[:, :1].repeat(len(X_test), axis=1), atol=1e-3)


def test_the_model_files_carry_it_and_older_models_load_as_boosted_from_zero(tmp_path):
    X, y, (train_rows, val_rows, test_rows) = _data()
    model = _fit(X, y, train_rows, val_rows)
    model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["base_margin_features"] == ["donor_score", "acceptor_score"]
    loaded = load_model(tmp_path / "m", "cpu")
    assert loaded.boost_from_base
    np.testing.assert_array_equal(loaded.predict_proba(X[test_rows]), model.predict_proba(X[test_rows]))
    del manifest["base_margin_features"], manifest["base_margin_classes"]  # a model written before the option
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    older = load_model(tmp_path / "m", "cpu")
    assert not older.boost_from_base and older.base_margin_features == []
    assert np.abs(older.margins(X[test_rows]) - model.margins(X[test_rows])).max() > 1.0


def test_features_without_the_base_scores_are_refused_in_one_line():
    with pytest.raises(GpumetaError, match="features lack acceptor_score"):
        boost_from_base_features(["donor_score", "motif"], True)
    assert boost_from_base_features(["motif"], False) == []


@pytest.mark.parametrize("algorithm", ["random_forest", "logistic_regression"])
def test_learners_without_a_starting_margin_refuse_the_option_in_one_line(algorithm):
    with pytest.raises(GpumetaError, match=f"algorithm '{algorithm}' cannot boost from the base model's logit"):
        load_config(overrides={"algorithm": algorithm, "booster": {"boost_from_base": True}})
    X, y, (train_rows, val_rows, _) = _data(n_genes=6, rows=40)
    with pytest.raises(GpumetaError, match="cannot boost from the base model's logit"):
        get_algorithm(algorithm).fit_one_vs_rest(get_backend("cpu"), X, y, train_rows, val_rows, [0, 1], seed=0,
                                                 nthread=1, base_margin_idx=[0, 1])


def test_the_cli_refuses_it_for_another_learner_before_writing(tmp_path, capsys):
    dataset = make_dataset(tmp_path / "ds", n_genes=10, rows_per_gene=40)
    code = main(["train", "--dataset", str(dataset), "--out-dir", str(tmp_path / "run"), "--device", "cpu", "-q",
                 "--algorithm", "random_forest", "--boost-from-base"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err and "cannot boost" in err
    assert not (tmp_path / "run").exists()


def test_train_cli_and_predict_carry_the_base_margin_end_to_end(tmp_path, capsys):
    """`gpumeta train --boost-from-base`, then `gpumeta predict` (the call `annotate` and `serve` make too):
    the saved model boosts from the base scores and its predictions are its calibrated margins."""
    dataset = make_dataset(tmp_path / "ds", n_genes=30, rows_per_gene=100)
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(dataset), "--out-dir", str(run), "--device", "cpu", "-q",
                 "--boost-from-base", "--n-folds", "3", "--n-estimators", "30", "--skip-shap",
                 "--minimal-diagnostics"]) == 0
    model = load_model(run / "model", "cpu")
    assert model.boost_from_base
    assert json.loads((run / "run_config.json").read_text())["config"]["booster"]["boost_from_base"] is True
    out = tmp_path / "pred.parquet"
    assert main(["predict", "--model", str(run / "model"), "--dataset", str(dataset), "--out", str(out),
                 "--device", "cpu"]) == 0
    predicted = pd.read_parquet(out)
    data = load_dataset(dataset, "cpu", features=model.feature_names)
    X = model.backend.to_host(model.matrix(data))
    scores = X[:, [model.feature_names.index(c) for c in LOGIT]].astype(np.float64)
    start = _logit(np.column_stack([1 - scores.sum(axis=1), scores[:, 0], scores[:, 1]]))
    view = xgb.DMatrix(model.transform(X), base_margin=np.zeros(len(X)))
    margins = np.column_stack([learner.booster.predict(view, output_margin=True) for learner in model.learners])
    proba = np.column_stack([apply_calibrator(c, margins[:, k] + start[:, k])
                             for k, c in enumerate(model.calibrators)])
    proba /= proba.sum(axis=1, keepdims=True)
    for k, label in enumerate(("neither", "donor", "acceptor")):
        np.testing.assert_allclose(predicted[f"prob_{label}"], proba[:, k], rtol=1e-4, atol=1e-6)


def test_annotate_scores_a_boosted_model_as_its_predict_proba_on_build_rows(tmp_path):
    """`gpumeta annotate --all-positions` of a model boosted from the base scores: each nucleotide's meta
    probabilities are the model's prediction on the builder's row of it (the base margin included)."""
    genome = synth_genome(tmp_path / "genome", n_genes=6, seed=5)
    genes = sorted(read_annotation(genome.gtf))
    options = {"kmer_sizes": [2], "context_width": 2, "seq_window": 4}
    build_dataset(genome.fasta, genome.gtf, tmp_path / "ds", predictions=genome.predictions, device="cpu",
                  genes=genes[:4], **options)
    data = load_dataset(tmp_path / "ds", "cpu")
    features = list(data.feature_names)
    logit = [f for f in features if is_probability_feature(f)]
    base = boost_from_base_features(features, True)
    learners = get_algorithm("xgboost", XGB).fit_one_vs_rest(
        data.backend, data.X, data.y, data.rows_of(genes[:3]), data.rows_of(genes[3:4]),
        [features.index(f) for f in logit], seed=0, nthread=1, base_margin_idx=[features.index(f) for f in base])
    MetaModel(learners=learners, feature_names=features, logit_features=logit, base_margin_features=base,
              recipe=recipe_of_dataset(tmp_path / "ds")).save(tmp_path / "model")
    held_out = genes[4:]
    built = build_dataset(genome.fasta, genome.gtf, tmp_path / "rows", predictions=genome.predictions, device="cpu",
                          genes=held_out, all_positions=True, **options)
    rows = pd.concat([pq.read_table(f).to_pandas() for f in built.batch_files])
    result = annotate(tmp_path / "model", genome.fasta, tmp_path / "out", annotation=genome.gtf, genes=held_out,
                      predictions=genome.predictions, device="cpu", all_positions=True)
    model = load_model(tmp_path / "model", "cpu")
    assert model.boost_from_base
    proba = model.predict_proba(rows[model.feature_names].to_numpy(np.float32))
    scored = pd.read_parquet(result.out_dir / "nucleotides").astype({"gene_id": str})
    got = pd.DataFrame({"gene_id": rows["gene_id"].to_numpy(), "position": rows["absolute_position"].to_numpy()}) \
        .merge(scored, on=["gene_id", "position"], how="left", validate="one_to_one")
    for k, label in enumerate(("neither", "donor", "acceptor")):
        np.testing.assert_allclose(got[f"meta_{label}"], proba[:, k], rtol=1e-6, atol=1e-7, err_msg=label)


def test_multi_instance_members_boost_from_the_base_and_distributed_refuses(tmp_path):
    dataset = load_dataset(make_dataset(tmp_path / "ds", n_genes=24, rows_per_gene=60), "cpu")
    val_genes = list(dataset.genes[:5])
    train_rows, val_rows = dataset.rows_of(dataset.genes[5:]), dataset.rows_of(val_genes)
    features = list(dataset.feature_names)

    def config(boost: bool):
        return load_config(overrides={"strategy": "multi-instance", "genes_per_instance": 10,
                                      "booster": {"n_estimators": 15, "early_stopping_rounds": 5,
                                                  "boost_from_base": boost}})

    boosted = fit_model("multi-instance", dataset, train_rows, val_rows, features, ["donor_score"], config(True))
    assert len(boosted.instances) >= 2
    assert all(m.base_margin_features == ["donor_score", "acceptor_score"] for m in boosted.instances)
    # Instances travel from their workers as model files: the base margin must survive that trip.
    member = boosted.instances[0]
    X = dataset.matrix_of(val_genes)
    start = base_margins(X, [features.index("donor_score"), features.index("acceptor_score")], np)
    view = xgb.DMatrix(member.transform(X), base_margin=np.zeros(len(X)))
    trees = np.column_stack([learner.booster.predict(view, output_margin=True) for learner in member.learners])
    np.testing.assert_allclose(member.margins(X), trees + start, rtol=1e-5, atol=1e-4)
    with pytest.raises(GpumetaError, match="boost_from_base is not available with --strategy distributed"):
        fit_model("distributed", dataset, train_rows, val_rows, features, ["donor_score"], config(True))


# ---- a per-class choice: booster.boost_from_base = [classes] --------------------------------------------

def test_the_option_reads_false_true_or_a_list_of_classes_in_label_order():
    assert boost_from_base_classes(False) == [] and boost_from_base_classes(True) == list(LABELS)
    assert boost_from_base_classes(["acceptor", "neither"]) == ["neither", "acceptor"]
    assert load_config(overrides={"booster": {"boost_from_base": ["acceptor"]}}).booster.boost_from_base_classes() \
        == ["acceptor"]
    with pytest.raises(GpumetaError, match="unknown class\\(es\\) 'acceptr': use names from neither, donor, acceptor"):
        load_config(overrides={"booster": {"boost_from_base": ["acceptr"]}})
    with pytest.raises(GpumetaError, match="'boost_from_base' must be a bool or a list, got 'acceptor'"):
        load_config(overrides={"booster": {"boost_from_base": "acceptor"}})


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
@pytest.mark.parametrize("classes", [["donor"], ["neither", "acceptor"]])
def test_only_the_chosen_classes_start_from_the_base_logit(algorithm, classes):
    """The chosen classes' learners are the all-classes fit's, the others the from-zero fit's (xgboost clears
    the base margin it set for an earlier class), and margins and SHAP add the base logit to the chosen only."""
    pytest.importorskip(algorithm)
    params = XGB if algorithm == "xgboost" else LIBRARY_FAST["lightgbm"]
    X, y, (train_rows, val_rows, test_rows) = _data()
    fit = {name: _fit(X, y, train_rows, val_rows, [6, 6, 6], chosen, algorithm, params)
           for name, chosen in (("some", classes), ("all", LABELS), ("none", ()))}
    X_test = X[test_rows][:300]
    start = base_margins(X_test, [0, 1], np)
    margins = {name: model.margins(X_test) for name, model in fit.items()}
    for k, label in enumerate(LABELS):
        same = "all" if label in classes else "none"
        np.testing.assert_array_equal(margins["some"][:, k], margins[same][:, k], err_msg=label)
        learner, view = fit["some"].learners[k], logit_columns(X_test, [0, 1], np)
        if label in classes:  # the trees from a zero start (xgboost's base margin replaces its base_score)
            expected = learner.margin_from_base(view, np.zeros(len(view))) + start[:, k]
        else:
            expected = learner.margin(view)
        np.testing.assert_allclose(margins["some"][:, k], expected, rtol=1e-5, atol=1e-5, err_msg=label)
    contributions = fit["some"].contributions(X_test)
    np.testing.assert_allclose(contributions.sum(axis=-1).T, margins["some"], rtol=1e-4, atol=1e-3)
    for k, label in enumerate(LABELS):  # the bias column holds the base logit for the chosen classes only
        bias = contributions[k, :, -1] - (start[:, k] if label in classes else 0)
        np.testing.assert_allclose(bias, bias[0], atol=1e-3, err_msg=label)


def test_the_chosen_classes_survive_the_model_files_and_older_boosted_models_boost_every_class(tmp_path):
    X, y, (train_rows, val_rows, test_rows) = _data()
    model = _fit(X, y, train_rows, val_rows, classes=["acceptor"])
    model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["base_margin_classes"] == ["acceptor"]
    loaded = load_model(tmp_path / "m", "cpu")
    assert loaded.base_margin_classes == ["acceptor"]
    np.testing.assert_array_equal(loaded.predict_proba(X[test_rows]), model.predict_proba(X[test_rows]))
    # A model saved before the per-class choice names the base-score columns only: every class boosted.
    every = _fit(X, y, train_rows, val_rows)
    every.save(tmp_path / "old")
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text())
    del manifest["base_margin_classes"]
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest))
    older = load_model(tmp_path / "old", "cpu")
    assert older.base_margin_classes == list(LABELS)
    np.testing.assert_array_equal(older.predict_proba(X[test_rows]), every.predict_proba(X[test_rows]))
    with pytest.raises(GpumetaError, match="exactly when base_margin_features names the base-score columns"):
        MetaModel(learners=model.learners, feature_names=list(FEATURES), logit_features=list(LOGIT),
                  base_margin_classes=["acceptor"])


@pytest.mark.parametrize(("options", "message"), [
    (["--boost-from-base-classes", "acceptor,splice"], "unknown class(es) 'splice'"),
    (["--boost-from-base-classes", " , "], "names no class"),
    (["--boost-from-base", "--boost-from-base-classes", "acceptor"], "disagree: give one"),
])
def test_the_cli_refuses_bad_class_choices_in_one_line_before_writing(tmp_path, capsys, options, message):
    dataset = make_dataset(tmp_path / "ds", n_genes=10, rows_per_gene=40)
    code = main(["train", "--dataset", str(dataset), "--out-dir", str(tmp_path / "run"), "--device", "cpu", "-q",
                 *options])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err and message in err
    assert not (tmp_path / "run").exists()


def test_train_cli_boosts_the_named_classes_from_the_base(tmp_path):
    dataset = make_dataset(tmp_path / "ds", n_genes=30, rows_per_gene=100)
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(dataset), "--out-dir", str(run), "--device", "cpu", "-q",
                 "--boost-from-base-classes", "acceptor", "--n-folds", "3", "--n-estimators", "30", "--skip-shap",
                 "--minimal-diagnostics"]) == 0
    model = load_model(run / "model", "cpu")
    assert model.base_margin_classes == ["acceptor"]
    assert model.base_margin_features == ["donor_score", "acceptor_score"]
    assert json.loads((run / "run_config.json").read_text())["config"]["booster"]["boost_from_base"] == ["acceptor"]
    data = load_dataset(dataset, "cpu", features=model.feature_names)
    X = model.backend.to_host(model.matrix(data))
    acceptor = _logit(X[:, model.feature_names.index("acceptor_score")])
    neither, donor, from_base = model.learners
    view = model.transform(X)
    expected = np.column_stack([neither.margin(view), donor.margin(view),
                                from_base.margin_from_base(view, np.zeros(len(X))) + acceptor])
    np.testing.assert_allclose(model.margins(X), expected, rtol=1e-5, atol=1e-4)


def test_a_class_list_is_refused_where_the_option_is(tmp_path):
    with pytest.raises(GpumetaError, match="algorithm 'random_forest' cannot boost from the base model's logit"):
        load_config(overrides={"algorithm": "random_forest", "booster": {"boost_from_base": ["acceptor"]}})
    dataset = load_dataset(make_dataset(tmp_path / "ds", n_genes=12, rows_per_gene=40), "cpu")
    config = load_config(overrides={"booster": {"boost_from_base": ["acceptor"]}})
    with pytest.raises(GpumetaError, match="boost_from_base is not available with --strategy distributed"):
        fit_model("distributed", dataset, dataset.rows_of(dataset.genes[3:]), dataset.rows_of(dataset.genes[:3]),
                  list(dataset.feature_names), ["donor_score"], config)


@pytest.mark.gpu
def test_a_boosted_model_fits_predicts_and_explains_on_cuda(tmp_path):
    """The starting margins are gathered and set on the device; margins equal the boosters' plus the base
    logit there too, SHAP sums to them, and the saved model reloads on the host to the same margins."""
    backend = get_backend("cuda")
    X, y, (train_rows, val_rows, test_rows) = _data()
    learners = get_algorithm("xgboost", XGB).fit_one_vs_rest(
        backend, backend.asarray(X), y, train_rows, val_rows, [0, 1], seed=0, nthread=1, base_margin_idx=[0, 1])
    model = MetaModel(learners=learners, feature_names=list(FEATURES), logit_features=list(LOGIT),
                      base_margin_features=list(LOGIT), backend=backend)
    held_out = backend.asarray(X[test_rows])
    margins = model.margins(held_out)
    view = xgb.DMatrix(logit_columns(X[test_rows], [0, 1], np), base_margin=np.zeros(len(test_rows)))
    trees = np.column_stack([learner.booster.predict(view, output_margin=True) for learner in learners])
    np.testing.assert_allclose(margins, trees + base_margins(X[test_rows], [0, 1], np), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(model.contributions(held_out).sum(axis=2).T, margins, atol=1e-3)
    model.save(tmp_path / "model")
    np.testing.assert_allclose(load_model(tmp_path / "model", "cpu").margins(X[test_rows]), margins, atol=1e-4)


@pytest.mark.gpu
def test_only_the_chosen_class_starts_from_the_base_on_cuda():
    """On the device too, a class after one boosted from the base starts from zero again (the base margin
    set on the shared quantised matrix is cleared), and the chosen class equals the all-classes fit."""
    backend = get_backend("cuda")
    X, y, (train_rows, val_rows, test_rows) = _data()

    def fitted(classes):
        learners = get_algorithm("xgboost", XGB).fit_one_vs_rest(
            backend, backend.asarray(X), y, train_rows, val_rows, [0, 1], seed=0, nthread=1, n_rounds=[6, 6, 6],
            base_margin_idx=[0, 1] if classes else (), base_margin_classes=classes)
        return MetaModel(learners=learners, feature_names=list(FEATURES), logit_features=list(LOGIT),
                         base_margin_features=list(LOGIT) if classes else [], base_margin_classes=classes,
                         backend=backend).margins(backend.asarray(X[test_rows]))

    some, every, none = fitted(["donor"]), fitted(list(LABELS)), fitted([])
    np.testing.assert_allclose(some[:, 1], every[:, 1], atol=1e-5)
    np.testing.assert_allclose(some[:, [0, 2]], none[:, [0, 2]], atol=1e-5)
