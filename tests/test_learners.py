"""Each learner on its own: the registry's one-line errors, exact round counts for the final model,
progress ticks, and the conversions that must be exact (forest → xgboost trees, linear SHAP)."""

from __future__ import annotations

import importlib.util

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
    with pytest.raises(GpumetaError, match="unknown algorithm 'tabnet': use one of xgboost, xgboost-rf, lightgbm, "
                                           "catboost, random_forest, logistic_regression"):
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
    model = get_algorithm(name, params).fit_binary(CPU, X, y, None, Xv, yv, None, n_rounds=17, seed=0, nthread=2,
                                                   on_round=lambda: ticks.append(1))
    assert model.best_iteration == 16 and len(ticks) == 17
    assert len(model.evals_result["validation"]["logloss"]) == 17


@pytest.mark.parametrize("name", ["xgboost", "lightgbm", "catboost"])
def test_early_stopping_keeps_the_best_validation_round(name):
    X, y, Xv, yv = binary_data()
    learner = get_algorithm(name, {"n_estimators": 300, "early_stopping_rounds": 5, "learning_rate": 0.5})
    model = learner.fit_binary(CPU, X, y, None, Xv, yv, None, seed=0, nthread=2)
    curve = model.evals_result["validation"]["logloss"]
    assert len(curve) < 300 and model.best_iteration == int(np.argmin(curve))


def test_xgboost_streams_rows_to_the_same_model_as_a_materialised_matrix():
    X, y, Xv, yv = binary_data()
    X_all, labels = np.vstack([X, Xv]), np.concatenate([y, yv]).astype(np.int64)
    train_rows, val_rows = np.arange(len(X)), np.arange(len(X), len(X_all))
    learner = get_algorithm("xgboost", {"n_estimators": 20})
    streamed = learner.fit_one_vs_rest(CPU, X_all, labels, train_rows, val_rows, [], seed=3, nthread=2)[1]
    direct = learner.fit_binary(CPU, X, y, None, Xv, yv, None, seed=3, nthread=2)
    np.testing.assert_allclose(streamed.margin(Xv), direct.margin(Xv), rtol=1e-6)


def test_weights_change_the_fit():
    X, y, Xv, yv = binary_data()
    learner = get_algorithm("logistic_regression")
    plain = learner.fit_binary(CPU, X, y, None, Xv, yv, None, seed=0, nthread=2)
    weighted = learner.fit_binary(CPU, X, y, np.where(y > 0, 10.0, 1.0), Xv, yv, None, seed=0, nthread=2)
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
    plain = learner.fit_binary(CPU, X, y, None, Xv, yv, None, seed=0, nthread=2)
    weighted = learner.fit_binary(CPU, X, y, np.where(y > 0, 20.0, 1.0), Xv, yv, None, seed=0, nthread=2)
    assert weighted.margin(Xv).mean() > plain.margin(Xv).mean() + 0.3  # measured: +0.5 with these weights


def test_linear_shap_is_exact_and_a_missing_value_contributes_nothing():
    model = LinearBinary(coef=[2.0, -1.0], intercept=0.5, mean=[1.0, 3.0], scale=[2.0, 1.0], backend=CPU)
    X = np.array([[3.0, 3.0], [np.nan, 5.0]])
    np.testing.assert_allclose(model.contributions(X), [[2.0, 0.0, 0.5], [0.0, -2.0, 0.5]])
    np.testing.assert_allclose(model.margin(X), [2.5, -1.5])


@pytest.mark.parametrize("name", ["xgboost", "random_forest"])
def test_tree_models_are_xgboost_boosters_on_disk(name, tmp_path):
    X, y, Xv, yv = binary_data()
    model = get_algorithm(name, {"n_estimators": 5}).fit_binary(CPU, X, y, None, Xv, yv, None, seed=0, nthread=2)
    files = model.save(tmp_path, "donor")
    booster = xgb.Booster(model_file=str(tmp_path / files[0]))
    np.testing.assert_allclose(booster.inplace_predict(Xv, predict_type="margin"), model.margin(Xv), rtol=1e-6)
