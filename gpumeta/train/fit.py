"""The training code's one way to fit the three one-vs-rest models of the configured learner on rows of a matrix:
early-stopped on validation rows, or for fixed rounds per class, when validation rows, if any, are only watched.

How the rows reach the library is the learner's business (`gpumeta.learners`): the xgboost learners stream
row chunks into one quantised matrix on the backend's device, the others take the rows in their view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..backend import booster_device
from ..learners import Learner, get_algorithm
from ..schema import LABELS
from .config import TrainConfig

#: The `booster:` block of a config holds xgboost's hyper-parameters (its keys are XGBoostLearner's), so
#: configs written before the learners existed keep training the same model; `algorithm_params` go over it.
#: The multi-label booster takes the same parameters from it.
_BOOSTER_ALGORITHMS = ("xgboost", "xgboost-multilabel")


def learner_of(config: TrainConfig) -> Learner:
    """The configured learner: `config.algorithm` with `config.algorithm_params` over its defaults."""
    params = dict(config.algorithm_params)
    if config.algorithm in _BOOSTER_ALGORITHMS:
        booster = vars(config.booster)
        defaults = get_algorithm(config.algorithm).defaults()
        params = {**{k: booster[k] for k in defaults}, **params}
    return get_algorithm(config.algorithm, params)


def fit_one_vs_rest(learner: Learner, backend, X, y: np.ndarray, train_rows: np.ndarray, val_rows: np.ndarray,
                    logit_idx: Sequence[int], *, seed: int, rounds: Sequence[int] | None = None,
                    weights: np.ndarray | None = None, on_round: Callable[[], None] | None = None,
                    nthread: int | None = None, base_margin_idx: Sequence[int] = (),
                    base_margin_classes: Sequence[str] = LABELS) -> list:
    """One fitted model per class (LABELS order); `on_round` is called after every round.

    With `rounds` each class trains exactly that many rounds and `val_rows` (may be empty) are only
    evaluated, for the learning curves. `nthread` bounds the library's threads (a dask worker passes its
    own share of the machine). `base_margin_idx`: the donor and acceptor score columns the classes in
    `base_margin_classes` boost from (booster.boost_from_base), or () to boost every class from zero.
    """
    if rounds is None and not len(val_rows):
        raise ValueError("early stopping needs validation rows; give rounds to train without them")
    return learner.fit_one_vs_rest(backend, X, y, train_rows, val_rows, logit_idx, weights=weights,
                                   n_rounds=None if rounds is None else list(rounds), seed=seed,
                                   nthread=nthread or backend.n_threads, on_round=on_round,
                                   base_margin_idx=base_margin_idx, base_margin_classes=base_margin_classes)


def trained_on(learner: Learner, backend, models: list) -> str:
    """Where the models were fitted: an xgboost booster's own configured device (the evidence that the fit
    ran where it was asked to), else the backend's device when the learner computes on it, else cpu."""
    if not learner.uses_device(backend):
        return "cpu"
    booster = getattr(models[0], "booster", None)
    if type(booster).__module__.startswith("xgboost"):
        return booster_device(booster)
    return backend.name


def quantised_matrix_bytes(n_rows: int, n_features: int, max_bin: int) -> int:
    """Bytes of xgboost's quantised bins of a matrix, with its label and weight."""
    return int(n_rows) * (int(n_features) * (1 if max_bin <= 256 else 2) + 8)


def training_matrix_bytes(n_rows: int, n_features: int, max_bin: int) -> int:
    """Bytes of a training matrix: float32 features, xgboost's quantised bins, label and weight."""
    return int(n_rows) * int(n_features) * 4 + quantised_matrix_bytes(n_rows, n_features, max_bin)
