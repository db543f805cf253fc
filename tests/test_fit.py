"""The training code's fit seam: one quantile sketch per run shared by every fit (gpumeta.train.fit)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from gpumeta.backend import get_backend
from gpumeta.learners.xgboost_learner import XGBoostLearner
from gpumeta.train.config import load_config
from gpumeta.train.fit import fit_one_vs_rest, learner_of, quantile_cuts, shared_cuts


def test_fits_inside_shared_cuts_bin_with_the_pools_cut_points(monkeypatch):
    backend = get_backend("cpu")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(900, 4)).astype(np.float32)
    X[:, 0] = rng.uniform(0.01, 0.99, 900)  # a probability column, logit-transformed in the learner's view
    y = rng.choice([0, 1, 2], 900, p=[0.8, 0.1, 0.1])
    X[y == 1, 1] += 2.0
    learner = learner_of(load_config(overrides={"booster": {"n_estimators": 3, "max_bin": 16}}))
    binned = []  # the cut points of each training matrix the learner boosts on

    def recording(self, backend, dtrain, *args, **kwargs):
        binned.append(dtrain.get_quantile_cut())
        return boost(self, backend, dtrain, *args, **kwargs)

    boost = XGBoostLearner._boost
    monkeypatch.setattr(XGBoostLearner, "_boost", recording)
    dataset = SimpleNamespace(X=X, backend=backend, feature_names=["p", "a", "b", "c"])
    pool, train, val = np.arange(700), np.arange(0, 500), np.arange(500, 700)  # rows 700+: held out, unseen
    cuts = quantile_cuts(learner, dataset, pool, ["p"])
    pool_indptr, pool_values = cuts[3].get_quantile_cut()

    with shared_cuts(cuts):
        fit_one_vs_rest(learner, backend, X, y, train, val, [0], seed=0)
        fit_one_vs_rest(learner, backend, X.copy(), y, train, val, [0], seed=0)  # another matrix: its own
    fit_one_vs_rest(learner, backend, X, y, train, val, [0], seed=0)  # outside the block: its own sketch
    assert len(binned) == 9  # three classes per fit
    for indptr, values in binned[:3]:
        np.testing.assert_array_equal(indptr, pool_indptr)
        np.testing.assert_array_equal(values, pool_values)
    for _, values in binned[3:]:
        assert not (len(values) == len(pool_values) and np.array_equal(values, pool_values))
    # The pool's cuts are those of the logit view of its rows, never of the held-out rows' values.
    own = backend.quantile_dmatrix(np.log(X[:700, :1] / (1 - X[:700, :1])), max_bin=16).get_quantile_cut()
    np.testing.assert_allclose(pool_values[pool_indptr[0]:pool_indptr[1]], own[1][own[0][0]:own[0][1]], rtol=1e-5)
