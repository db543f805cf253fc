"""What every learner and every fitted one-vs-rest model answers (the scikit-learn/xgboost-sklearn shape).

A `Learner` holds hyper-parameters only (``__init__`` stores keyword params, validated against its
`DEFAULTS`); `fit_binary` gets the data and returns a `BinaryModel`, the fitted one-class model that
`MetaModel` holds three of. Matrices arrive as backend arrays (NumPy on cpu, CuPy on cuda) in the
learner's view: probability columns already on the logit scale.

`fit_one_vs_rest` is the entry point the training code calls per fold: it takes rows of the raw matrix,
builds the learner's view of them once and fits the three classes on it. The xgboost learners override
it to stream the rows into one quantised matrix instead (no materialised copy; see `xgboost_learner`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import GpumetaError
from ..model import base_margins, logit_columns
from ..schema import LABELS

OnRound = Callable[[], None] | None


def no_shap_error(algorithm: str) -> GpumetaError:
    """The one-line error for SHAP asked of a learner that has none (`Learner.explains`)."""
    return GpumetaError(f"algorithm {algorithm!r} has no SHAP values (xgboost computes none for multi-output "
                        "trees): add --skip-shap, or train with algorithm xgboost for SHAP")


class BinaryModel(abc.ABC):
    """One fitted one-vs-rest model: margins (log-odds), SHAP contributions, gain, files."""

    #: 0-based index of the last round kept (early stopping's pick); 0 for learners without rounds.
    best_iteration: int = 0
    #: Learning curves {"train": {metric: [...]}, "validation": {metric: [...]}}, or {} without rounds.
    evals_result: dict

    @abc.abstractmethod
    def margin(self, X) -> np.ndarray:
        """Log-odds of the class for each row of X (learner view), host float64 (n,)."""

    @abc.abstractmethod
    def contributions(self, X) -> np.ndarray:
        """SHAP values in log-odds, host (n, n_features + 1): last column the bias; rows sum to `margin`."""

    def margin_from_base(self, X, base_margin: np.ndarray) -> np.ndarray:
        """`margin` of a model fitted from a per-row starting margin (host (n,), the base model's logit):
        the starting margin plus the model's. Learners whose library adds it natively override this."""
        return self.margin(X) + np.asarray(base_margin, dtype=np.float64)

    def contributions_from_base(self, X, base_margin: np.ndarray) -> np.ndarray:
        """`contributions` of a model fitted from a per-row starting margin: that margin is its own term,
        added to the bias column, so rows still sum to `margin_from_base`."""
        contributions = np.array(self.contributions(X), copy=True)
        contributions[:, -1] += np.asarray(base_margin, dtype=contributions.dtype)
        return contributions

    @abc.abstractmethod
    def feature_importance(self) -> np.ndarray:
        """Importance per feature column, host float64 (n_features,): total gain where the learner has it."""

    @abc.abstractmethod
    def save(self, directory: Path, stem: str) -> list[str]:
        """Write the model into `directory` in its library's own format (no pickle); the file names written."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: Path, spec: dict, backend) -> BinaryModel:
        """The model `save` wrote; `spec` is its manifest entry ({"files": [...], "best_iteration": n})."""


class Learner(abc.ABC):
    """Hyper-parameters of one algorithm and how it fits a binary model."""

    #: The registry name (``--algorithm``).
    name: ClassVar[str]
    #: Hyper-parameters and their defaults: the only keys `__init__` accepts.
    DEFAULTS: ClassVar[dict[str, Any]]
    #: The fitted model class, used by load_model.
    model_class: ClassVar[type[BinaryModel]]
    #: Python modules the learner imports and the pip extra that provides them (None: a core dependency).
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    #: Whether `fit_one_vs_rest` can start each class from the base model's logit (train's boost_from_base).
    boosts_from_base: ClassVar[bool] = False

    @classmethod
    def check_boost_from_base(cls) -> None:
        """A one-line error when this learner cannot boost from the base model's logit."""
        if not cls.boosts_from_base:
            raise GpumetaError(f"algorithm {cls.name!r} cannot boost from the base model's logit "
                               "(booster.boost_from_base / --boost-from-base): use xgboost, xgboost-rf, "
                               "lightgbm or catboost, or turn the option off")

    @classmethod
    def explains(cls) -> bool:
        """Whether its models compute SHAP contributions (train refuses a learner without them unless SHAP is
        off)."""
        return True

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.DEFAULTS))
        if unknown:
            raise GpumetaError(f"algorithm {self.name!r}: unknown parameter(s) {', '.join(unknown)}; valid "
                               f"parameters: {', '.join(sorted(self.DEFAULTS))}")
        self.params = dict(self.DEFAULTS)
        for key, value in params.items():
            default = self.DEFAULTS[key]
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = (value is None or default is None or isinstance(value, type(default))
                  or (isinstance(default, float) and is_number))
            if not ok:
                raise GpumetaError(f"algorithm {self.name!r}: parameter {key!r} must be of "
                                   f"type {type(default).__name__}, got {value!r}")
            self.params[key] = float(value) if isinstance(default, float) and value is not None else value

    @classmethod
    def defaults(cls) -> dict:
        return dict(cls.DEFAULTS)

    def get_params(self) -> dict:
        return dict(self.params)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.params.items() if v != self.DEFAULTS[k]}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def uses_device(self, backend) -> bool:
        """Whether fitting computes on the backend's accelerator (else the data is copied to the host)."""
        return True

    def max_rounds(self) -> int:
        """How many times `fit_binary` calls `on_round` at most (progress bars size themselves on it)."""
        return 1

    @abc.abstractmethod
    def fit_binary(self, backend, X_train, y_train, w_train, X_val, y_val, w_val, *, n_rounds: int | None = None,
                   seed: int, nthread: int, on_round: OnRound = None) -> BinaryModel:
        """Fit one binary model; early stopping on (X_val, y_val) where the learner has it.

        `n_rounds` given: train exactly that many rounds without early stopping (the final model, with
        the count cross-validation picked); X_val, y_val and w_val are then None when there are no
        validation rows. y is 0/1, w None or per-row weights, all backend arrays. Learners with
        `boosts_from_base` also take ``start_train`` and ``start_val``: host per-row starting margins (the
        library's init score), given only when the model boosts from the base model.
        """

    def fit_one_vs_rest(self, backend, X, y: np.ndarray, train_rows: np.ndarray, val_rows: np.ndarray,
                        logit_idx: Sequence[int], *, weights: np.ndarray | None = None,
                        n_rounds: Sequence[int] | None = None, seed: int, nthread: int,
                        on_round: OnRound = None, base_margin_idx: Sequence[int] = (),
                        base_margin_classes: Sequence[str] = LABELS) -> list[BinaryModel]:
        """One binary model per class (LABELS order) on rows of the raw matrix X (host y, rows, weights).

        `n_rounds`: one count per class for the final model (no early stopping), or None.
        `base_margin_idx`: the raw donor and acceptor score columns whose logits (`gpumeta.model.base_margins`)
        the classes named in `base_margin_classes` start from (the others boost from zero), or () to boost
        every class from zero; only learners with `boosts_from_base` take them.
        """
        if len(base_margin_idx):
            self.check_boost_from_base()
        has_val = len(val_rows) > 0  # a fixed-rounds fit may have no validation rows
        starts = [None if start is None else backend.to_host(start)
                  for start in (starting_margins(backend, X, rows, base_margin_idx) for rows in (train_rows, val_rows))]
        X_train = logit_columns(X[backend.asarray(train_rows)], logit_idx, backend.xp, copy=False)
        X_val = logit_columns(X[backend.asarray(val_rows)], logit_idx, backend.xp, copy=False) if has_val else None
        w_train = None if weights is None else backend.asarray(weights[train_rows])
        w_val = None if weights is None or not has_val else backend.asarray(weights[val_rows])
        models = []
        for k in range(len(LABELS)):
            target = (y == k).astype(np.float32)
            start = {} if starts[0] is None or LABELS[k] not in base_margin_classes else {
                "start_train": starts[0][:, k], "start_val": None if starts[1] is None else starts[1][:, k]}
            models.append(self.fit_binary(
                backend, X_train, backend.asarray(target[train_rows]), w_train,
                X_val, backend.asarray(target[val_rows]) if has_val else None, w_val,
                n_rounds=None if n_rounds is None else int(n_rounds[k]), seed=seed, nthread=nthread,
                on_round=on_round, **start))
        return models


def starting_margins(backend, X, rows: np.ndarray, base_margin_idx: Sequence[int]):
    """The base model's logit per class (len(rows), 3) of rows of the raw matrix X, a backend array, or None
    when the model boosts from zero or there are no rows. Only the two score columns of the rows are
    gathered, not the rows' whole matrix."""
    if not len(base_margin_idx) or not len(rows):
        return None
    cols = backend.asarray(np.asarray(base_margin_idx, dtype=np.int64))
    return base_margins(X[backend.asarray(rows)[:, None], cols[None, :]], [0, 1], backend.xp)


def host_float32(backend, X) -> np.ndarray:
    """X as a host float32 NumPy matrix (learners that only run on the host)."""
    return np.ascontiguousarray(backend.to_host(X), dtype=np.float32)


def host_or_none(backend, values) -> np.ndarray | None:
    return None if values is None else np.asarray(backend.to_host(values))


def tick(on_round: OnRound, times: int = 1) -> None:
    if on_round is not None:
        for _ in range(times):
            on_round()


def file_in(directory: Path, spec: dict, library: str) -> Path:
    """The one file a model spec names, or a one-line error when it is missing."""
    path = Path(directory) / spec["files"][0]
    if not path.is_file():
        raise GpumetaError(f"{path}: missing; the model directory is incomplete ({library} model file), "
                           "retrain or copy it again")
    return path
