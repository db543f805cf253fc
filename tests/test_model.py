"""The model contract, for every algorithm and model kind: probabilities, margins, SHAP, files, reloads.

Every model answers the same calls whichever learner made it, and a model directory reloads in a fresh
process to the same probabilities (nothing in it is a pickle). Rows are split by "gene" blocks, and every
score is taken on rows no learner trained on.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import numpy as np
import pytest

from gpumeta.backend import get_backend
from gpumeta.calibration import apply_calibrator, fit_calibrator
from gpumeta.errors import GpumetaError
from gpumeta.learners import ALGORITHMS, get_algorithm, learner_class
from gpumeta.model import EnsembleModel, MetaModel, load_model, logit_columns
from gpumeta.schema import LABELS

#: Small settings that train in about a second per algorithm on 2 cores.
FAST = {"xgboost": {"n_estimators": 20, "early_stopping_rounds": 5},
        "xgboost-rf": {"n_estimators": 20, "max_depth": 6},
        "xgboost-multilabel": {"n_estimators": 20, "early_stopping_rounds": 5},
        "lightgbm": {"n_estimators": 30, "early_stopping_rounds": 5, "num_leaves": 15},
        "catboost": {"n_estimators": 30, "early_stopping_rounds": 5, "depth": 4},
        "random_forest": {"n_estimators": 20, "max_depth": 6},
        "logistic_regression": {}}
FEATURES = ["donor_score", "acceptor_score", "motif", "gc", "noise"]
LOGIT = ["donor_score", "acceptor_score"]
N_GENES, ROWS_PER_GENE = 40, 80


@functools.cache
def data():
    """(X, y, gene of each row): sites the base scores miss carry a motif, as in tests/datasets.py."""
    rng = np.random.default_rng(7)
    n = N_GENES * ROWS_PER_GENE
    y = rng.choice(3, n, p=[0.8, 0.1, 0.1])
    missed = rng.random(n) < 0.3
    donor = np.where((y == 1) & ~missed, 0.8, 0.02) * rng.random(n) ** 0.3
    acceptor = np.where((y == 2) & ~missed, 0.8, 0.02) * rng.random(n) ** 0.3
    motif = np.where(missed & (y > 0), y, 0) + rng.normal(0, 0.3, n)
    X = np.column_stack([donor, acceptor, motif, rng.random(n), rng.normal(size=n)]).astype(np.float32)
    X[rng.random(n) < 0.01, 3] = np.nan  # missing values must pass through every learner
    return X, y, np.repeat(np.arange(N_GENES), ROWS_PER_GENE)


def split():
    """Train, validation and held-out rows by gene."""
    _, _, genes = data()
    return (np.flatnonzero(genes < 24), np.flatnonzero((genes >= 24) & (genes < 30)),
            np.flatnonzero(genes >= 30))


def fit_model(name: str, train_rows=None, seed: int = 1) -> MetaModel:
    X, y, _ = data()
    default_train, val_rows, _ = split()
    learner = get_algorithm(name, FAST[name])
    learners = learner.fit_one_vs_rest(get_backend("cpu"), X, y, default_train if train_rows is None else train_rows,
                                       val_rows, [FEATURES.index(f) for f in LOGIT], seed=seed, nthread=1)
    return MetaModel(learners=learners, feature_names=list(FEATURES), logit_features=list(LOGIT), algorithm=name,
                     algorithm_params=learner.get_params(), training_genes=["g"])


@functools.cache
def single(name: str) -> MetaModel:
    return fit_model(name)


def ensemble(name: str) -> EnsembleModel:
    train_rows, _, _ = split()
    halves = np.array_split(train_rows, 2)
    return EnsembleModel(instances=[fit_model(name, halves[0], seed=1), fit_model(name, halves[1], seed=2)],
                         weights=[0.6, 0.4])


def proba_in_fresh_process(model_dirs: list, X) -> list[np.ndarray]:
    """load_model + predict_proba of every model directory in one new interpreter: the files alone must
    carry the models (one process for all of them: each start costs seconds of imports)."""
    work = model_dirs[0].parent.parent
    np.save(work / "X.npy", X)
    code = ("import sys, numpy as np; from gpumeta.model import load_model; X = np.load(sys.argv[1]); "
            "[np.save(d + '.proba.npy', load_model(d, 'cpu').predict_proba(X)) for d in sys.argv[2:]]")
    subprocess.run([sys.executable, "-c", code, str(work / "X.npy"), *map(str, model_dirs)], check=True)
    return [np.load(f"{d}.proba.npy") for d in model_dirs]


def held_out_X() -> np.ndarray:
    return data()[0][split()[2]]


def check_predictor_contract(model, tmp_path) -> np.ndarray:
    """The calls every model answers, and an in-process reload predicting the same; the probabilities."""
    _, y, _ = data()
    held_out = held_out_X()
    proba = model.predict_proba(held_out)
    assert proba.shape == (len(held_out), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    margins = model.margins(held_out)
    assert margins.shape == (len(held_out), 3) and np.isfinite(margins).all()
    check_contributions(model, held_out, margins)
    importance = model.feature_importance()
    assert list(importance.columns) == list(LABELS) and list(importance.index) == FEATURES
    assert (importance.to_numpy() >= 0).all() and importance.to_numpy().sum() > 0
    # Learned something on genes it never saw: donor average precision well above the donor rate.
    from sklearn.metrics import average_precision_score

    truth = y[split()[2]] == 1
    assert average_precision_score(truth, proba[:, 1]) > 3 * truth.mean()
    path = model.save(tmp_path / "model")
    np.testing.assert_array_equal(load_model(path, "cpu").predict_proba(held_out), proba)
    return proba


def check_contributions(model, X, margins: np.ndarray) -> None:
    """SHAP values that add up to the margins, or, from a learner without them, a one-line error."""
    members = getattr(model, "instances", [model])
    if not all(learner_class(m.algorithm).explains() for m in members):
        with pytest.raises(GpumetaError, match="has no SHAP values"):
            model.contributions(X)
        return
    contributions = model.contributions(X)
    assert contributions.shape == (3, len(X), len(FEATURES) + 1)
    np.testing.assert_allclose(contributions.sum(axis=2).T, margins, atol=1e-3)


@pytest.fixture(scope="module")
def fresh_process_proba(tmp_path_factory) -> dict[str, np.ndarray]:
    """Every algorithm's single model saved and predicted in one fresh process."""
    root = tmp_path_factory.mktemp("fresh")
    dirs = [single(name).save(root / name / "model") for name in ALGORITHMS]
    return dict(zip(ALGORITHMS, proba_in_fresh_process(dirs, held_out_X())))


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_single_model_contract_for_every_algorithm(name, tmp_path, fresh_process_proba):
    model = single(name)
    proba = check_predictor_contract(model, tmp_path)
    np.testing.assert_array_equal(fresh_process_proba[name], proba)
    reloaded = load_model(tmp_path / "model", "cpu")
    assert reloaded.algorithm == name and reloaded.algorithm_params == get_algorithm(name, FAST[name]).get_params()
    assert reloaded.evals_result == model.evals_result
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["format_version"] == 2 and [c["label"] for c in manifest["classes"]] == list(LABELS)
    for spec in manifest["classes"]:
        assert all((tmp_path / "model" / f).is_file() and not f.endswith((".pkl", ".pickle")) for f in spec["files"])


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_ensemble_contract_for_every_algorithm(name, tmp_path):
    check_predictor_contract(ensemble(name), tmp_path)


def test_an_ensemble_may_mix_algorithms(tmp_path):
    model = EnsembleModel(instances=[single("xgboost"), single("logistic_regression")], weights=[1.0, 1.0])
    check_predictor_contract(model, tmp_path)
    assert [m.algorithm for m in load_model(tmp_path / "model", "cpu").instances] == ["xgboost",
                                                                                      "logistic_regression"]


def test_format_1_manifests_with_xgboost_boosters_still_load(tmp_path):
    model = single("xgboost")
    directory = tmp_path / "old"
    directory.mkdir()
    for label, learner in zip(LABELS, model.learners):
        learner.booster.save_model(str(directory / f"{label}.ubj"))
    manifest = {"format": "gpumeta-model", "format_version": 1, "kind": "single", "labels": list(LABELS),
                "feature_names": FEATURES, "logit_features": LOGIT,
                "boosters": [f"{label}.ubj" for label in LABELS], "calibration": model.calibrators,
                "thresholds": model.thresholds, "base_thresholds": model.base_thresholds,
                "training_genes": ["g"], "dataset_fingerprint": "", "params": {},
                "evals_result": model.evals_result}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    old = load_model(directory, "cpu")
    X = data()[0][:50]
    assert old.algorithm == "xgboost"
    np.testing.assert_array_equal(old.predict_proba(X), model.predict_proba(X))
    assert old.evals_result == model.evals_result


def test_a_missing_learner_file_is_one_line(tmp_path):
    single("lightgbm").save(tmp_path / "model")
    (tmp_path / "model" / "donor.lgb.txt").unlink()
    with pytest.raises(GpumetaError, match=r"donor\.lgb\.txt: missing; the model directory is incomplete"):
        load_model(tmp_path / "model", "cpu")


def test_a_damaged_learner_file_is_one_line(tmp_path):
    single("catboost").save(tmp_path / "model")
    (tmp_path / "model" / "acceptor.cbm").write_bytes(b"not a model")
    with pytest.raises(GpumetaError, match=r"acceptor\.cbm: not a readable catboost model"):
        load_model(tmp_path / "model", "cpu")


def test_an_unknown_model_kind_is_one_line(tmp_path):
    single("xgboost").save(tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    (tmp_path / "model" / "manifest.json").write_text(json.dumps({**manifest, "kind": "stacked"}))
    with pytest.raises(GpumetaError, match="model kind 'stacked' is unknown"):
        load_model(tmp_path / "model", "cpu")


def test_a_feature_matrix_of_the_wrong_width_is_refused():
    with pytest.raises(GpumetaError, match="expects 5 feature columns, got 4"):
        single("xgboost").predict_proba(data()[0][:10, :4])


# ---- calibration -------------------------------------------------------------------------------------------
def test_platt_calibration_recovers_a_known_scale():
    rng = np.random.default_rng(0)
    margin = rng.normal(0, 3, 20_000)
    target = (rng.random(margin.size) < 1 / (1 + np.exp(-(0.5 * margin - 1)))).astype(int)
    spec = fit_calibrator(margin, target, "platt")
    assert spec["a"] == pytest.approx(0.5, abs=0.05) and spec["b"] == pytest.approx(-1.0, abs=0.08)


def test_isotonic_calibration_matches_scikit_learn():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(1)
    margin = rng.normal(0, 2, 2_000)
    target = (rng.random(margin.size) < 1 / (1 + np.exp(-margin))).astype(int)
    spec = fit_calibrator(margin, target, "isotonic")
    probe = np.linspace(-6, 6, 101)
    expected = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(
        1 / (1 + np.exp(-margin)), target).predict(1 / (1 + np.exp(-probe)))
    np.testing.assert_allclose(apply_calibrator(json.loads(json.dumps(spec)), probe), expected)


def test_one_class_out_of_fold_means_no_calibration():
    assert fit_calibrator(np.arange(5.0), np.zeros(5), "platt") == {"method": "none"}


def test_unknown_calibration_is_one_line():
    with pytest.raises(GpumetaError, match="use one of platt, isotonic, none"):
        fit_calibrator(np.arange(4.0), np.array([0, 1, 0, 1]), "beta")


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_algorithm_fits_and_reloads_on_cuda(name, tmp_path):
    backend = get_backend("cuda")
    X, y, _ = data()
    train_rows, val_rows, test_rows = split()
    learner = get_algorithm(name, FAST[name])
    learners = learner.fit_one_vs_rest(backend, backend.asarray(X), y, train_rows, val_rows,
                                       [FEATURES.index(f) for f in LOGIT], seed=1, nthread=1)
    model = MetaModel(learners=learners, feature_names=list(FEATURES), logit_features=list(LOGIT), algorithm=name,
                      algorithm_params=learner.get_params(), backend=backend)
    held_out = backend.asarray(X[test_rows])
    check_contributions(model, held_out, model.margins(held_out))
    model.save(tmp_path / "model")
    np.testing.assert_allclose(load_model(tmp_path / "model", backend).predict_proba(held_out),
                               model.predict_proba(held_out), atol=1e-6)


def test_logit_columns_copies_unless_told_to_work_in_place():
    X = np.array([[0.5, 0.9], [0.1, 3.0]], dtype=np.float32)
    out = logit_columns(X, [0], np)
    assert out[:, 0] == pytest.approx(np.log(np.array([0.5, 0.1]) / np.array([0.5, 0.9])))
    assert X[1, 0] == pytest.approx(0.1) and out[1, 1] == 3.0  # the input is untouched
    gathered = X[[0, 1]]
    assert logit_columns(gathered, [0], np, copy=False) is gathered
    assert gathered[1, 0] == pytest.approx(np.log(0.1 / 0.9))


def test_a_blended_model_pulls_toward_the_base_model_and_keeps_its_blend(tmp_path):
    X = held_out_X()
    base = np.column_stack([1 - X[:, 0] - X[:, 1], X[:, 0], X[:, 1]])
    for model in (fit_model("xgboost"), ensemble("xgboost")):
        own = model.predict_proba(X)
        model.base_blend = 0.5
        blended = model.predict_proba(X)
        np.testing.assert_allclose(blended, model.calibrate_margins(model.margins(X), base), rtol=1e-6)
        np.testing.assert_allclose(blended.sum(axis=1), 1.0, rtol=1e-9)
        logit = lambda p: np.log(np.clip(p, 1e-7, 1 - 1e-7)) - np.log1p(-np.clip(p, 1e-7, 1 - 1e-7))
        expected = 1 / (1 + np.exp(-(0.5 * logit(own) + 0.5 * logit(np.clip(base, 1e-7, 1)))))
        np.testing.assert_allclose(blended, expected / expected.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-9)
        with pytest.raises(ValueError, match="base probabilities"):
            model.calibrate_margins(model.margins(X))
        path = model.save(tmp_path / model.kind)
        manifest = json.loads((path / "manifest.json").read_text())
        assert manifest["format_version"] == 3 and manifest["base_blend"] == 0.5  # older gpumeta refuses it
        np.testing.assert_array_equal(load_model(path, "cpu").predict_proba(X), blended)
    no_scores = MetaModel(learners=[], feature_names=["motif"], logit_features=[], base_blend=0.5)
    with pytest.raises(GpumetaError, match="base-score columns"):
        no_scores.base_proba(np.zeros((2, 1), np.float32))
