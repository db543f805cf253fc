"""Each learner on its own: the registry's one-line errors, exact round counts for the final model,
progress ticks, and the conversions that must be exact (forest → xgboost trees, linear SHAP)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import xgboost as xgb

from gpumeta.backend import get_backend
from gpumeta.errors import GpumetaError
from gpumeta.learners import ALGORITHMS, get_algorithm, learner_class
from gpumeta.learners.logistic_regression import LinearBinary
from gpumeta.learners.random_forest import forest_to_booster, trees_from_sklearn

CPU = get_backend("cpu")


def binary_data(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = ((X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.5, n)) > 1.2).astype(np.float32)
    return X[: n * 3 // 4], y[: n * 3 // 4], X[n * 3 // 4:], y[n * 3 // 4:]


# ---- registry ------------------------------------------------------------------------------------------
def test_unknown_algorithm_lists_the_valid_ones():
    with pytest.raises(GpumetaError, match="unknown algorithm 'tabnet': use one of xgboost, xgboost-rf, "
                                           "xgboost-multilabel, lightgbm, catboost, random_forest, "
                                           "logistic_regression"):
        get_algorithm("tabnet", {})


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(GpumetaError, match=r"algorithm 'lightgbm': unknown parameter\(s\) max_leaves; valid "
                                           r"parameters: colsample_bytree, early_stopping_rounds"):
        get_algorithm("lightgbm", {"max_leaves": 31})


@pytest.mark.parametrize("params, message", [
    ({"max_depth": "deep"}, "parameter 'max_depth' must be of type int, got 'deep'"),
    ({"learning_rate": True}, "parameter 'learning_rate' must be of type float, got True"),
    ("max_depth=3", "parameters must be a JSON object of name: value, got 'max_depth=3'"),
])
def test_parameters_of_the_wrong_type_are_one_line(params, message):
    with pytest.raises(GpumetaError, match=message):
        get_algorithm("xgboost", params)


def test_integers_are_accepted_for_float_parameters_and_stored_as_floats():
    assert get_algorithm("logistic_regression", {"C": 2}).get_params()["C"] == 2.0


def test_a_missing_optional_library_names_its_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "catboost" else real(name, *a))
    with pytest.raises(GpumetaError, match=r"needs the catboost package: pip install 'gpumeta\[catboost\]'"):
        learner_class("catboost")


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_defaults_are_a_copy_and_every_default_is_accepted(name):
    cls = ALGORITHMS[name]
    defaults = cls.defaults()
    defaults["n_estimators"] = -1
    assert cls.DEFAULTS.get("n_estimators", 0) != -1
    assert get_algorithm(name, cls.defaults()).get_params() == cls.defaults()


# ---- fitting -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, params", [
    ("xgboost", {"n_estimators": 200, "early_stopping_rounds": 3}),
    ("lightgbm", {"n_estimators": 200, "early_stopping_rounds": 3, "num_leaves": 7}),
    ("catboost", {"n_estimators": 200, "early_stopping_rounds": 3, "depth": 3}),
])
def test_n_rounds_trains_exactly_that_many_rounds_without_early_stopping(name, params):
    X, y, Xv, yv = binary_data()
    ticks = []
    model = get_algorithm(name, params).fit_binary(CPU, X, y, None, Xv, yv, None, n_rounds=17, seed=0, nthread=1,
                                                   on_round=lambda: ticks.append(1))
    assert model.best_iteration == 16 and len(ticks) == 17
    assert len(model.evals_result["validation"]["logloss"]) == 17


@pytest.mark.parametrize("name", ["xgboost", "lightgbm", "catboost"])
def test_early_stopping_keeps_the_best_validation_round(name):
    X, y, Xv, yv = binary_data()
    learner = get_algorithm(name, {"n_estimators": 300, "early_stopping_rounds": 5, "learning_rate": 0.5})
    model = learner.fit_binary(CPU, X, y, None, Xv, yv, None, seed=0, nthread=1)
    curve = model.evals_result["validation"]["logloss"]
    assert len(curve) < 300 and model.best_iteration == int(np.argmin(curve))


def test_xgboost_streams_rows_to_the_same_model_as_a_materialised_matrix():
    X, y, Xv, yv = binary_data()
    X_all, labels = np.vstack([X, Xv]), np.concatenate([y, yv]).astype(np.int64)
    train_rows, val_rows = np.arange(len(X)), np.arange(len(X), len(X_all))
    learner = get_algorithm("xgboost", {"n_estimators": 20})
    streamed = learner.fit_one_vs_rest(CPU, X_all, labels, train_rows, val_rows, [], seed=3, nthread=1)[1]
    direct = learner.fit_binary(CPU, X, y, None, Xv, yv, None, seed=3, nthread=1)
    np.testing.assert_allclose(streamed.margin(Xv), direct.margin(Xv), rtol=1e-6)


def test_ctrl_c_while_xgboost_builds_a_matrix_is_raised_once_it_is_built_not_inside_its_callback():
    # In a fresh process: raised inside xgboost's callback into the row iterator, the interrupt crashed the
    # process or failed with an xgboost range error.
    code = """
import signal, numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever the test runner has
import gpumeta.learners.xgboost_learner as xl
from gpumeta.backend import get_backend
from gpumeta.learners import get_algorithm
real, calls = xl.logit_columns, []
def interrupting(*args, **kwargs):
    calls.append(1)
    if len(calls) == 1 and interrupt:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C while xgboost reads the first chunk
    return real(*args, **kwargs)
xl.logit_columns = interrupting
X = np.random.default_rng(0).normal(size=(500, 4)).astype(np.float32)
label = (X[:, 0] > 0).astype(np.float32)
build = lambda: get_algorithm("xgboost").quantised(get_backend("cpu"), X, np.arange(400), np.arange(400, 500),
                                                  label, None, [])
interrupt = False
build()
whole = len(calls)
calls.clear()
interrupt = True
try:
    build()
except KeyboardInterrupt:
    print("interrupted after", len(calls), "of", whole, "chunk reads")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # Both matrices were built first (every read of every chunk), then the interrupt was raised.
    reads = out.stdout.split()
    assert reads[:2] == ["interrupted", "after"] and reads[2] == reads[4], out.stdout
    assert "Exception ignored" not in out.stderr


def test_weights_change_the_fit():
    X, y, Xv, yv = binary_data()
    learner = get_algorithm("logistic_regression")
    plain = learner.fit_binary(CPU, X, y, None, Xv, yv, None, seed=0, nthread=1)
    weighted = learner.fit_binary(CPU, X, y, np.where(y > 0, 10.0, 1.0), Xv, yv, None, seed=0, nthread=1)
    assert weighted.intercept > plain.intercept + 1  # positives count ten times: a higher base rate


# ---- exact conversions ---------------------------------------------------------------------------------
def test_forest_trees_predict_their_smoothed_mean_leaf_log_odds_in_xgboost():
    from sklearn.ensemble import RandomForestClassifier

    X, y, Xv, _ = binary_data()
    X = np.round(X, 1)  # many rows exactly at a split threshold: the <= vs < conversion must hold there
    Xv = np.vstack([np.round(Xv, 1), X[:50]])
    Xv[::7, 2] = np.nan
    X[::11, 2] = np.nan
    forest = RandomForestClassifier(n_estimators=7, max_depth=5, random_state=0).fit(X, y)
    booster = forest_to_booster(trees_from_sklearn(forest), X.shape[1])
    leaves = forest.apply(Xv)
    expected = np.zeros(len(Xv))
    for k, estimator in enumerate(forest.estimators_):
        t = estimator.tree_
        fraction = t.value[:, 0, 1] / t.value[:, 0, :].sum(axis=1)
        p = (fraction * t.weighted_n_node_samples + 0.5) / (t.weighted_n_node_samples + 1)
        expected += np.log(p / (1 - p))[leaves[:, k]] / len(forest.estimators_)
    np.testing.assert_allclose(booster.inplace_predict(Xv, predict_type="margin"), expected, rtol=1e-5, atol=1e-5)
    gain = booster.get_score(importance_type="total_gain")
    assert max(gain, key=gain.get) == "f0"  # the feature that decides y


def test_forest_sample_weights_reach_the_trees():
    X, y, Xv, yv = binary_data()
    learner = get_algorithm("random_forest", {"n_estimators": 5, "max_depth": 4})
    plain = learner.fit_binary(CPU, X, y, None, Xv, yv, None, seed=0, nthread=1)
    weighted = learner.fit_binary(CPU, X, y, np.where(y > 0, 20.0, 1.0), Xv, yv, None, seed=0, nthread=1)
    assert weighted.margin(Xv).mean() > plain.margin(Xv).mean() + 0.3  # measured: +0.5 with these weights


def test_linear_shap_is_exact_and_a_missing_value_contributes_nothing():
    model = LinearBinary(coef=[2.0, -1.0], intercept=0.5, mean=[1.0, 3.0], scale=[2.0, 1.0], backend=CPU)
    X = np.array([[3.0, 3.0], [np.nan, 5.0]])
    np.testing.assert_allclose(model.contributions(X), [[2.0, 0.0, 0.5], [0.0, -2.0, 0.5]])
    np.testing.assert_allclose(model.margin(X), [2.5, -1.5])


@pytest.mark.parametrize("name", ["xgboost", "random_forest"])
def test_tree_models_are_xgboost_boosters_on_disk(name, tmp_path):
    X, y, Xv, yv = binary_data()
    model = get_algorithm(name, {"n_estimators": 5}).fit_binary(CPU, X, y, None, Xv, yv, None, seed=0, nthread=1)
    files = model.save(tmp_path, "donor")
    booster = xgb.Booster(model_file=str(tmp_path / files[0]))
    np.testing.assert_allclose(booster.inplace_predict(Xv, predict_type="margin"), model.margin(Xv), rtol=1e-6)


# ---- every algorithm through the whole pipeline --------------------------------------------------------
#: A few rounds each: the point is the path (train, calibrate, evaluate, explain, save, reload), not skill.
TINY = {"xgboost": {"n_estimators": 8, "early_stopping_rounds": 3},
        "xgboost-rf": {"n_estimators": 5, "max_depth": 4},
        "xgboost-multilabel": {"n_estimators": 8, "early_stopping_rounds": 3},
        "lightgbm": {"n_estimators": 8, "early_stopping_rounds": 3, "num_leaves": 7},
        "catboost": {"n_estimators": 8, "early_stopping_rounds": 3, "depth": 3},
        "random_forest": {"n_estimators": 5, "max_depth": 4},
        "logistic_regression": {}}


@contextlib.contextmanager
def one_core():
    """This process on one core while train() runs (it sizes its threads to the cores it may use): on a
    shared 2-core machine two OpenMP threads wait on each other (measured: 8 xgboost rounds x 3 classes,
    12 s on 2 threads, 0.5 s on 1)."""
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores)


@pytest.fixture(scope="module")
def pipeline_runs(tmp_path_factory) -> dict:
    """Every algorithm trained by `train()` on one tiny dataset (12 genes x 60 rows, 2 folds), then every
    saved model reloaded in one fresh process (probabilities of the held-out genes)."""
    import subprocess
    import sys

    from gpumeta.dataset import load_dataset
    from gpumeta.synth import synth_dataset
    from gpumeta.train import train

    root = tmp_path_factory.mktemp("pipeline")
    dataset = synth_dataset(root / "tiny", n_genes=12, rows_per_gene=60, seed=3, genes_per_batch=12,
                            kmer_sizes=(1,), window=2)
    with one_core():
        runs = {name: train(dataset, root / name, device="cpu", quiet=True, n_folds=2, algorithm=name,
                            algorithm_params=TINY[name], minimal_diagnostics=True) for name in ALGORITHMS}
    held_out = load_dataset(dataset, "cpu").select_genes(runs["xgboost"].splits["test"])
    for name, run in runs.items():
        np.save(root / f"{name}.X.npy", held_out.backend.to_host(run.model.matrix(held_out)))
    code = ("import sys, numpy as np; from gpumeta.model import load_model; "
            "[np.save(d + '.proba.npy', load_model(d, 'cpu').predict_proba(np.load(d + '.X.npy'))) "
            "for d in sys.argv[1:]]")
    subprocess.run([sys.executable, "-c", code, *(str(root / n) for n in ALGORITHMS)], check=True)
    return {"runs": runs, "held_out": held_out, "root": root,
            "fresh": {n: np.load(root / f"{n}.proba.npy") for n in ALGORITHMS}}


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_algorithm_trains_calibrates_evaluates_explains_saves_and_reloads(name, pipeline_runs, tmp_path):
    import json

    from gpumeta.evaluate.explain import explain_model
    from gpumeta.evaluate.heldout import evaluate_heldout
    from gpumeta.model import load_model
    from gpumeta.train import train

    run = pipeline_runs["runs"][name]
    held_out = pipeline_runs["held_out"]
    info = json.loads((run.run_dir / "run_info.json").read_text())
    assert info["algorithm"] == name and info["params"] == get_algorithm(name, TINY[name]).get_params()
    assert info["timings"]["learner"] > 0
    model = run.model
    assert model.algorithm == name and model.params["trained_on"] == "cpu"
    # Calibrated and thresholded on out-of-fold margins, scored on genes no fit saw.
    assert len(model.calibrators) == 3 and set(model.thresholds) == {"donor", "acceptor"}
    assert not set(model.training_genes) & set(run.splits["test"])
    headline = run.evaluation[run.evaluation["headline"]]
    assert 0 <= headline["macro_f1"]["meta"] <= 1 and run.evaluation["n_test_genes"] == len(run.splits["test"])
    X = model.matrix(held_out)
    if not learner_class(name).explains():  # no SHAP values: said in one line, before and after training
        with pytest.raises(GpumetaError, match="has no SHAP values"):
            explain_model(model, held_out, tmp_path, shap_genes=3)
        with pytest.raises(GpumetaError, match="add --skip-shap"):
            train(run.run_dir.parent / "tiny", tmp_path / "explained", device="cpu", quiet=True, algorithm=name)
        with pytest.raises(GpumetaError, match="add --skip-shap"):
            evaluate_heldout(model, held_out, tmp_path / "evaluated")
        assert not (tmp_path / "explained").exists() and not (tmp_path / "evaluated").exists()
    else:
        # Explained with the learner's own contributions: they add up to its margins.
        _explained_exactly(model, held_out, X, tmp_path)
    # Saved without pickle, reloaded in a fresh process to the same probabilities.
    proba = load_model(run.run_dir, "cpu").predict_proba(X)
    np.testing.assert_array_equal(pipeline_runs["fresh"][name], proba)
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=1e-6, atol=1e-9)


def _explained_exactly(model, held_out, X, tmp_path) -> None:
    from gpumeta.evaluate.explain import explain_model

    explained = explain_model(model, held_out, tmp_path, shap_genes=3)
    table = np.genfromtxt(tmp_path / "shap_importance.csv", delimiter=",", names=True, dtype=None, encoding=None)
    assert explained["shap"]["n_rows"] > 0 and len(table) == len(model.feature_names)
    np.testing.assert_allclose(model.contributions(X).sum(axis=2).T, model.margins(X), atol=1e-3)


def test_the_multilabel_booster_grows_one_tree_per_round_for_the_three_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 6)).astype(np.float32)
    y = np.where(X[:, 0] > 1.2, 1, np.where(X[:, 1] > 1.2, 2, 0))
    rows = np.arange(2400)
    learner = get_algorithm("xgboost-multilabel", {"n_estimators": 40, "early_stopping_rounds": 3})
    models = learner.fit_one_vs_rest(CPU, X, y, rows, np.arange(2400, 3000), [], seed=0, nthread=1)
    booster = models[0].booster
    assert all(m.booster is booster for m in models) and len({m.best_iteration for m in models}) == 1
    assert booster.num_boosted_rounds() == models[0].best_iteration + 1
    assert json.loads(booster.save_config())["learner"]["learner_model_param"]["num_target"] == "3"
    margins = np.column_stack([m.margin(X) for m in models])
    np.testing.assert_allclose(margins, booster.inplace_predict(X, predict_type="margin"), rtol=1e-6)
    assert margins[y == 1, 1].mean() > margins[y != 1, 1].mean() + 2  # each output learns its own class
    assert margins[y == 2, 2].mean() > margins[y != 2, 2].mean() + 2
    fixed = learner.fit_one_vs_rest(CPU, X, y, rows, np.arange(0), [], n_rounds=[5, 5, 5], seed=0, nthread=1)
    assert fixed[0].booster.num_boosted_rounds() == 5
    with pytest.raises(GpumetaError, match=r"booster rounds \[5, 6, 5\] must be one count for all"):
        learner.fit_one_vs_rest(CPU, X, y, rows, np.arange(0), [], n_rounds=[5, 6, 5], seed=0, nthread=1)


def test_distributed_strategy_is_xgboost_only():
    from gpumeta.train.config import load_config
    from gpumeta.train.strategies import _choose

    config = load_config(overrides={"algorithm": "lightgbm"})
    with pytest.raises(GpumetaError, match=r"xgboost\.dask, the xgboost algorithm only; algorithm 'lightgbm' trains "
                                           r"with --strategy single or multi-instance"):
        _choose("distributed", 1000, 5, CPU, config, cluster=object())


def test_auto_strategy_never_picks_distributed_for_another_algorithm(monkeypatch):
    from gpumeta.train import strategies
    from gpumeta.train.config import load_config

    monkeypatch.setattr(strategies, "n_workers_of", lambda cluster: 4)
    monkeypatch.setattr(CPU, "memory_budget", lambda: 1.0)
    big = (10**6, 50, CPU)
    assert strategies._choose("auto", *big, load_config(), cluster=object())[0] == "distributed"
    strategy, reason = strategies._choose("auto", *big, load_config(overrides={"algorithm": "catboost"}),
                                          cluster=object())
    assert strategy == "multi-instance" and "catboost has no distributed training" in reason


@pytest.mark.parametrize("args, message", [
    (["--algorithm", "svm"], "unknown algorithm 'svm': use one of xgboost, xgboost-rf, xgboost-multilabel"),
    (["--algorithm-params", "{depth: 3"], "--algorithm-params '{depth: 3': not valid JSON"),
    (["--algorithm-params", "[3]"], "--algorithm-params '[3]': give a JSON object"),
    (["--algorithm", "catboost", "--algorithm-params", '{"max_depth": 3}'],
     "algorithm 'catboost': unknown parameter(s) max_depth; valid parameters: border_count, depth"),
])
def test_train_cli_refuses_bad_algorithm_options_in_one_line(args, message, tmp_path, capsys):
    from gpumeta.cli import main

    assert main(["train", "--dataset", str(tmp_path / "none"), "--out-dir", str(tmp_path / "run"), "--quiet",
                 *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err


def test_shap_figures_are_drawn_from_a_learners_own_contributions(pipeline_runs, tmp_path):
    from gpumeta.evaluate.plots import plot_shap

    model = pipeline_runs["runs"]["lightgbm"].model
    X = model.matrix(pipeline_runs["held_out"])
    contributions = model.contributions(X)  # LightGBM's pred_contrib, not the shap package's explainers
    figures = plot_shap(contributions[1], X, model.feature_names, "donor", tmp_path, top=8, note="test genes")
    assert sorted(figures) == ["shap_beeswarm_donor", "shap_dependence_donor", "shap_waterfall_donor"]
    for png in figures.values():
        assert png.stat().st_size > 10_000 and not png.with_suffix(".pdf").exists()


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_wait_passively_unless_the_environment_says_otherwise(given, expected):
    # Spinning xgboost threads made one fold 6.5x slower on a shared 2-core machine; a user's policy wins.
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    out = subprocess.run([sys.executable, "-c", "import os, gpumeta; print(os.environ['OMP_WAIT_POLICY'])"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
