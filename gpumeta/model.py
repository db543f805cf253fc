"""Trained meta-models: three one-vs-rest learners + calibration, saved as JSON + each learner's own
model format (never a pickle).

Every kind of model (a single model, an ensemble of instances, a model trained with xgboost.dask) answers
the same `predict_proba`, so `predict`, `evaluate` and notebooks never care which one they hold; every
algorithm (`gpumeta.learners`) answers the same `BinaryModel` calls, so a model never cares which
algorithm made it. Loading runs no code from the files: a model directory is ``manifest.json`` plus each
class's model in its library's own format (xgboost UBJSON, LightGBM text, CatBoost .cbm, JSON).

Manifest format 2 records ``algorithm``, ``algorithm_params`` and per class its ``files`` and
``best_iteration``; format 1 manifests (xgboost boosters listed under ``boosters``) still load.
``base_margin_features`` names the base-score columns a model boosted from (`base_margins`) and
``base_margin_classes`` the classes whose learners start from them; manifests without the first key are
models boosted from zero, manifests with it but without the second boosted every class from the base.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_dir, write_json
from .backend import Backend, get_backend
from .calibration import apply_calibrator, log_odds
from .errors import GpumetaError, shown
from .schema import LABELS
from .structure import GeneStructure, site_posteriors

FORMAT = "gpumeta-model"
#: The newest manifest version this gpumeta reads: 3 adds `base_blend`. A model without a blend is written as
#: version 2 (UNBLENDED_FORMAT_VERSION), which earlier gpumeta reads as it is; a blended one as 3, which
#: earlier gpumeta refuses rather than predicting without the blend.
FORMAT_VERSION = 3
UNBLENDED_FORMAT_VERSION = 2
SITE_TYPES = ("donor", "acceptor")
#: Rows per prediction chunk: bounds the memory of the logit transform and of SHAP matrices.
CHUNK_ROWS = 1 << 16
#: The base model's score columns a model boosted from the base model's logit starts from (donor,
#: acceptor); neither's starting probability is one minus both (`base_margins`).
BASE_MARGIN_FEATURES = ("donor_score", "acceptor_score")


def logit_columns(X, columns: Sequence[int], xp, copy: bool = True):
    """X with the given columns on the logit scale (probabilities pile up near 0, see schema): a copy, or
    X itself changed in place with ``copy=False`` (for a matrix the caller just gathered, e.g. ``X[rows]``)."""
    if not len(columns):
        return X
    if copy:
        X = X.copy()
    idx = xp.asarray(np.asarray(columns, dtype=np.int64))
    X[:, idx] = log_odds(X[:, idx], xp)
    return X


def base_margins(X, columns: Sequence[int], xp):
    """The base model's logit per class (n, 3) in LABELS order, from the raw donor and acceptor probability
    columns of X: where each one-vs-rest learner of a model boosted from the base model starts (xgboost's
    ``base_margin``), so its trees learn corrections and keep the base model's order where they add nothing.
    Neither's probability is one minus both, clipped like every logit here."""
    donor, acceptor = X[:, int(columns[0])], X[:, int(columns[1])]
    return log_odds(xp.stack([1 - donor - acceptor, donor, acceptor], axis=1), xp)


def boost_from_base_classes(boost_from_base) -> list[str]:
    """The classes (LABELS order) whose learners start from the base model's logit, from train's
    ``booster.boost_from_base``: false (none), true (every class) or a list of class names; a one-line
    error naming what is not a class."""
    if isinstance(boost_from_base, bool):
        return list(LABELS) if boost_from_base else []
    if not isinstance(boost_from_base, (list, tuple)) or not all(isinstance(c, str) for c in boost_from_base):
        raise GpumetaError(f"boost_from_base is {boost_from_base!r}: give true, false or a list of classes "
                           f"from {', '.join(LABELS)}")
    unknown = sorted(set(boost_from_base) - set(LABELS))
    if unknown:
        raise GpumetaError(f"boost_from_base (--boost-from-base-classes) names unknown class(es) "
                           f"{shown(unknown, quote=True)}: use names from {', '.join(LABELS)}")
    return [c for c in LABELS if c in boost_from_base]


def boost_from_base_features(feature_names: Sequence[str], classes: Sequence[str]) -> list[str]:
    """The columns a model boosts from (`BASE_MARGIN_FEATURES`) when some class starts from the base model
    (`boost_from_base_classes`), or [] when every class boosts from zero; a one-line error when the
    features lack them."""
    if not classes:
        return []
    missing = [f for f in BASE_MARGIN_FEATURES if f not in feature_names]
    if missing:
        raise GpumetaError(f"boost_from_base starts from the base model's scores but the features lack "
                           f"{shown(missing)}; take them out of the exclude file or turn boost_from_base off")
    return list(BASE_MARGIN_FEATURES)


def normalise(proba: np.ndarray) -> np.ndarray:
    total = proba.sum(axis=1, keepdims=True)
    return proba / np.where(total > 0, total, 1.0)


def blend_with_base(proba: np.ndarray, base_proba: np.ndarray, weight: float) -> np.ndarray:
    """Each class's probability as sigmoid((1 - weight) logit(proba) + weight logit(base)), rows renormalised:
    the meta-model's scores pulled toward the base model's (train's ``base_blend``). `base_proba` is (n, 3) in
    LABELS order; only its donor and acceptor columns are read (neither is one minus both, as in
    `base_margins`), so a dataset's base scores and a matrix's score columns blend alike."""
    base = base_margins(np.asarray(base_proba, dtype=np.float64), (1, 2), np)
    mixed = (1.0 - weight) * log_odds(np.asarray(proba, dtype=np.float64)) + weight * base
    return normalise(1.0 / (1.0 + np.exp(-mixed)))


def decide(proba: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """Labels from probabilities with per-type thresholds: the site type whose probability clears its
    threshold by the largest ratio, else neither."""
    label = np.zeros(len(proba), dtype=np.int8)
    best = np.ones(len(proba))  # a type must clear its threshold (ratio >= 1); on a tie the first type keeps it
    for t in SITE_TYPES:
        ratio = proba[:, LABELS.index(t)] / thresholds[t]
        wins = (ratio >= 1.0) & ((ratio > best) | (label == 0))
        label[wins] = LABELS.index(t)
        best = np.where(wins, ratio, best)
    return label


class _Predictor(abc.ABC):
    """What every model kind shares: feature alignment, chunking, decisions."""

    feature_names: list[str]
    thresholds: dict[str, float]
    calibrators: list[dict]
    backend: Backend
    #: Weight of the base model's logit in every probability (`blend_with_base`; train's ``base_blend``);
    #: 0: the meta-model's own.
    base_blend: float
    #: Gene-structure decoding fitted on the out-of-fold rows (`gpumeta.structure`), for this model's
    #: probabilities ("meta") and the base model's ("base"); {} when train fitted none.
    gene_structure: dict

    def structure_posteriors(self, who: str, gene_ids, positions, proba: np.ndarray) -> np.ndarray:
        """(n, 2) donor and acceptor posteriors of rows (`positions` transcript-oriented, many genes in any
        order) under the gene structure fitted for `who` ("meta": `proba` is this model's, "base": the base
        model's), at the thresholds tuned for it."""
        thresholds = self.thresholds if who == "meta" else self.base_thresholds
        return site_posteriors(gene_ids, positions, proba[:, LABELS.index("donor")],
                               proba[:, LABELS.index("acceptor")], (thresholds["donor"], thresholds["acceptor"]),
                               self.gene_structure[who])

    def decoded_calls(self, gene_ids, positions, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels 0/1/2 of the meta-model's calls decoded by its gene structure (`structure_posteriors`), and
        the posteriors behind them (n, 3, LABELS order, 0 for neither)."""
        posterior = np.column_stack([np.zeros(len(proba)),
                                     self.structure_posteriors("meta", gene_ids, positions, proba)])
        return decide(posterior, dict(zip(SITE_TYPES, self.gene_structure["meta"].cuts))), posterior

    def matrix(self, dataset) -> object:
        """The dataset's matrix in this model's feature order; names what is missing."""
        if list(dataset.feature_names) == list(self.feature_names):
            return dataset.X
        missing = [f for f in self.feature_names if f not in dataset.feature_names]
        if missing:
            raise GpumetaError(f"{dataset.path}: lacks feature column(s) {shown(missing)} that the model was "
                               "trained on; build the dataset with the model's feature options")
        order = [dataset.feature_names.index(f) for f in self.feature_names]
        return dataset.X[:, dataset.backend.asarray(np.asarray(order))]

    def _check_width(self, X) -> None:
        if X.shape[1] != len(self.feature_names):
            raise GpumetaError(f"the model expects {len(self.feature_names)} feature columns, got {X.shape[1]}; "
                               "pass model.matrix(dataset) or a matrix in model.feature_names order")

    def predict_proba_uncalibrated(self, X) -> np.ndarray:
        return normalise(1.0 / (1.0 + np.exp(-self.margins(X))))

    def calibrate_margins(self, margins: np.ndarray, base_proba: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probabilities (n, 3) of rows from their margins; a model with a `base_blend` blends them
        with the rows' base-model probabilities `base_proba` (n, 3, LABELS order), which it then needs."""
        proba = normalise(np.stack([apply_calibrator(c, margins[:, k]) for k, c in enumerate(self.calibrators)],
                                   axis=1))
        if not self.base_blend:
            return proba
        if base_proba is None:
            raise ValueError("a model blended with the base model needs the rows' base probabilities")
        return blend_with_base(proba, base_proba, self.base_blend)

    def base_proba(self, X) -> np.ndarray | None:
        """The base model's probabilities (n, 3) from X's donor_score and acceptor_score columns (host); None
        for a model without a `base_blend`, which never needs them."""
        if not self.base_blend:
            return None
        missing = [f for f in BASE_MARGIN_FEATURES if f not in self.feature_names]
        if missing:
            raise GpumetaError(f"base_blend needs the base-score columns {missing} among the model's features")
        columns = [self.feature_names.index(f) for f in BASE_MARGIN_FEATURES]
        scores = np.asarray(self.backend.to_host(X[:, self.backend.asarray(np.asarray(columns))]), np.float64)
        return np.column_stack([1.0 - scores.sum(axis=1), scores])

    @property
    def format_version(self) -> int:
        return FORMAT_VERSION if self.base_blend else UNBLENDED_FORMAT_VERSION

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities (n, 3) in LABELS order; rows sum to one."""
        return self.calibrate_margins(self.margins(X), self.base_proba(X))

    def predict(self, X) -> np.ndarray:
        """Labels 0/1/2 (neither/donor/acceptor) at the model's tuned per-type thresholds."""
        return decide(self.predict_proba(X), self.thresholds)

    def save(self, path: str | Path) -> Path:
        """Write the model directory atomically: it appears complete or not at all."""
        with atomic_dir(path) as tmp:
            self.write_into(tmp)
        return Path(path)

    @abc.abstractmethod
    def margins(self, X) -> np.ndarray:
        """Raw one-vs-rest margins (n, 3) in log-odds, host."""

    @abc.abstractmethod
    def contributions(self, X) -> np.ndarray:
        """SHAP values (3, n, p+1) in log-odds, last column the bias; each row sums to its margin. A model
        boosted from the base model's logit puts that logit in the bias column, as its own term."""

    @abc.abstractmethod
    def feature_importance(self) -> pd.DataFrame:
        """Importance per feature (rows) and class (columns): total gain where the learner has it."""

    @abc.abstractmethod
    def write_into(self, directory: Path) -> None:
        """Write manifest.json and the learners' files into an existing (temporary) directory."""


@dataclass
class MetaModel(_Predictor):
    """Three one-vs-rest learners (`gpumeta.learners.BinaryModel`, LABELS order), their calibrators, and
    what they were trained on."""

    learners: list
    feature_names: list[str]
    logit_features: list[str]
    algorithm: str = "xgboost"
    algorithm_params: dict = field(default_factory=dict)
    calibrators: list[dict] = field(default_factory=lambda: [{"method": "none"}] * len(LABELS))
    thresholds: dict[str, float] = field(default_factory=lambda: {t: 0.5 for t in SITE_TYPES})
    base_thresholds: dict[str, float] = field(default_factory=lambda: {t: 0.5 for t in SITE_TYPES})
    training_genes: list[str] = field(default_factory=list)
    dataset_fingerprint: str = ""
    params: dict = field(default_factory=dict)
    backend: Backend = field(default_factory=lambda: get_backend("cpu"))
    #: How the training dataset's features were made (gpumeta.annotate.recipe); None when unknown.
    recipe: dict | None = None
    #: The raw base-score columns (donor, acceptor) whose logits the learners boosted from
    #: (`base_margins`; train's ``booster.boost_from_base``); [] for learners boosted from zero.
    base_margin_features: list[str] = field(default_factory=list)
    #: The classes (LABELS order) whose learners start from the base model's logit; the others boosted from
    #: zero. None: every class when `base_margin_features` is given (models saved before the choice), else none.
    base_margin_classes: list[str] | None = None
    base_blend: float = 0.0
    gene_structure: dict[str, GeneStructure] = field(default_factory=dict)

    kind = "single"

    def __post_init__(self) -> None:
        self._logit_idx = [self.feature_names.index(f) for f in self.logit_features]
        if self.base_margin_features and list(self.base_margin_features) != list(BASE_MARGIN_FEATURES):
            raise GpumetaError(f"base_margin_features {self.base_margin_features}: a model boosts from "
                               f"{list(BASE_MARGIN_FEATURES)} or from zero ([])")
        if self.base_margin_classes is None:
            self.base_margin_classes = list(LABELS) if self.base_margin_features else []
        if bool(self.base_margin_features) != bool(self.base_margin_classes) \
                or boost_from_base_classes(list(self.base_margin_classes)) != list(self.base_margin_classes):
            raise GpumetaError(f"base_margin_classes {self.base_margin_classes}: name classes from {list(LABELS)} "
                               "in that order, exactly when base_margin_features names the base-score columns")
        self._base_idx = [self.feature_names.index(f) for f in self.base_margin_features]
        self._base_classes = {LABELS.index(c) for c in self.base_margin_classes}

    @property
    def boost_from_base(self) -> bool:
        """Whether any learner's margin starts from the base model's logit of its class."""
        return bool(self._base_idx)

    @property
    def algorithms(self) -> list[str]:
        """The learners' algorithm names (one here; an ensemble's members may differ)."""
        return [self.algorithm]

    @property
    def evals_result(self) -> dict:
        """{label: {"train": {metric: [...]}, "validation": {...}, "best_iteration": n}} of the learners."""
        return {label: {**learner.evals_result, "best_iteration": int(learner.best_iteration)}
                for label, learner in zip(LABELS, self.learners)}

    # ---- prediction -----------------------------------------------------------------------------------
    def transform(self, X):
        """The learner's view of raw features (probability columns on the logit scale)."""
        return logit_columns(X, self._logit_idx, self.backend.xp)

    def _per_chunk(self, X, answer, width: int | None, dtype) -> np.ndarray:
        """answer(learner, chunk, base) for every class over row chunks of X: (3, n) or (3, n, width), host;
        base is the class's base-model logit per row of the chunk, or None for a class boosted from zero."""
        self._check_width(X)
        shape = (len(LABELS), X.shape[0]) + (() if width is None else (width,))
        out = np.empty(shape, dtype=dtype)
        xp = self.backend.xp
        for start in range(0, X.shape[0], CHUNK_ROWS):
            raw = self.backend.asarray(X[start:start + CHUNK_ROWS])
            base = self.backend.to_host(base_margins(raw, self._base_idx, xp)) if self._base_idx else None
            chunk = self.transform(raw)
            for k, learner in enumerate(self.learners):
                from_base = base is not None and k in self._base_classes
                out[k, start:start + chunk.shape[0]] = answer(learner, chunk, base[:, k] if from_base else None)
        return out

    def margins(self, X) -> np.ndarray:
        """Raw one-vs-rest margins (n, 3), host: the learners' plus, for the classes boosted from the base
        model, the base model's logit of that class (what calibration, thresholds and every prediction see)."""
        def margin(learner, chunk, base):
            return learner.margin(chunk) if base is None else learner.margin_from_base(chunk, base)

        return self._per_chunk(X, margin, None, np.float64).T.copy()

    def contributions(self, X) -> np.ndarray:
        """SHAP values (3, n, p+1) of each class's learner in log-odds (native where the library has them).

        Contributions are attributed to the raw feature columns: the logit transform is monotone per
        column, so each column's contribution is unchanged by it. A class boosted from the base model's
        logit has that logit as its own term in the last (bias) column: the feature columns are then the
        trees' corrections to the base model, and each row still sums to its margin.
        """
        def contributions(learner, chunk, base):
            return learner.contributions(chunk) if base is None else learner.contributions_from_base(chunk, base)

        return self._per_chunk(X, contributions, X.shape[1] + 1, np.float32)

    def feature_importance(self) -> pd.DataFrame:
        """Total gain (or the learner's nearest measure) per feature (rows) and class (columns)."""
        return pd.DataFrame({label: learner.feature_importance() for label, learner in zip(LABELS, self.learners)},
                            index=pd.Index(self.feature_names, name="feature"))

    # ---- persistence ----------------------------------------------------------------------------------
    def manifest(self, classes: list[dict] | None = None) -> dict:
        return {
            "format": FORMAT, "format_version": self.format_version, "kind": self.kind, "labels": list(LABELS),
            "feature_names": self.feature_names, "logit_features": self.logit_features,
            "algorithm": self.algorithm, "algorithm_params": self.algorithm_params,
            "classes": classes or [], "calibration": self.calibrators,
            "thresholds": self.thresholds, "base_thresholds": self.base_thresholds,
            "training_genes": list(self.training_genes), "dataset_fingerprint": self.dataset_fingerprint,
            "params": self.params, "evals_result": self.evals_result, "recipe": self.recipe,
            "base_margin_features": list(self.base_margin_features),
            "base_margin_classes": list(self.base_margin_classes), "base_blend": self.base_blend,
            "gene_structure": _structure_dicts(self.gene_structure),
        }

    def write_into(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        classes = [{"label": label, "files": learner.save(directory, label),
                    "best_iteration": int(learner.best_iteration)}
                   for label, learner in zip(LABELS, self.learners)]
        write_json(directory / "manifest.json", self.manifest(classes))

    @classmethod
    def from_manifest(cls, directory: Path, manifest: dict, backend: Backend) -> MetaModel:
        from .learners import learner_class

        if manifest.get("format_version", 1) < 2:  # format 1: xgboost boosters only
            algorithm, params = "xgboost", {}
            curves = manifest.get("evals_result", {})
            classes = [{"files": [name], "best_iteration": curves.get(label, {}).get("best_iteration", 0)}
                       for label, name in zip(LABELS, manifest["boosters"])]
        else:
            algorithm, params, classes = manifest["algorithm"], manifest["algorithm_params"], manifest["classes"]
        model_class = learner_class(algorithm).model_class
        learners = []
        for label, spec in zip(LABELS, classes):
            try:
                learner = model_class.load(directory, spec, backend)
            except GpumetaError:
                raise
            except Exception as exc:
                raise GpumetaError(f"{directory / spec['files'][0]}: not a readable {algorithm} model "
                                   f"({type(exc).__name__}); the model directory is damaged, retrain or copy "
                                   "it again") from None
            curves = manifest.get("evals_result", {}).get(label, {})
            learner.evals_result = {k: v for k, v in curves.items() if k != "best_iteration"}
            learners.append(learner)
        return cls(learners=learners, feature_names=manifest["feature_names"],
                   logit_features=manifest["logit_features"], algorithm=algorithm, algorithm_params=params,
                   calibrators=manifest["calibration"], thresholds=manifest["thresholds"],
                   base_thresholds=manifest["base_thresholds"], training_genes=manifest["training_genes"],
                   dataset_fingerprint=manifest["dataset_fingerprint"], params=manifest.get("params", {}),
                   backend=backend, recipe=manifest.get("recipe"),
                   base_margin_features=manifest.get("base_margin_features", []),
                   base_margin_classes=manifest.get("base_margin_classes"),
                   base_blend=manifest.get("base_blend", 0.0), gene_structure=_structures(manifest))


@dataclass
class EnsembleModel(_Predictor):
    """Instances trained on different genes.

    Its margin is the weighted mean of the instances' margins (weights = each instance's validation
    score), and one set of calibrators, fitted on out-of-fold predictions like every other model kind,
    turns it into probabilities. SHAP values average the same way, exactly (SHAP is linear in the margin).
    """

    instances: list[MetaModel]
    weights: list[float]
    calibrators: list[dict] = field(default_factory=lambda: [{"method": "none"}] * len(LABELS))
    thresholds: dict[str, float] = field(default_factory=lambda: {t: 0.5 for t in SITE_TYPES})
    base_thresholds: dict[str, float] = field(default_factory=lambda: {t: 0.5 for t in SITE_TYPES})
    params: dict = field(default_factory=dict)
    dataset_fingerprint: str = ""
    recipe: dict | None = None
    base_blend: float = 0.0
    gene_structure: dict[str, GeneStructure] = field(default_factory=dict)

    kind = "ensemble"

    def __post_init__(self) -> None:
        names = {tuple(m.feature_names) for m in self.instances}
        if len(names) != 1:
            raise GpumetaError("ensemble instances were trained on different feature lists; retrain them with "
                               "one global feature screening")
        w = np.asarray(self.weights, dtype=np.float64)
        self._w = w / w.sum()

    @property
    def feature_names(self) -> list[str]:
        return self.instances[0].feature_names

    @property
    def backend(self) -> Backend:
        return self.instances[0].backend

    @property
    def training_genes(self) -> list[str]:
        return sorted({g for m in self.instances for g in m.training_genes})

    @property
    def evals_result(self) -> dict:
        return {f"instance_{i:03d}": m.evals_result for i, m in enumerate(self.instances)}

    def _average(self, per_instance) -> np.ndarray:
        return sum(w * per_instance(m) for w, m in zip(self._w, self.instances))

    def margins(self, X) -> np.ndarray:
        return self._average(lambda m: m.margins(X))

    def contributions(self, X) -> np.ndarray:
        return self._average(lambda m: m.contributions(X))

    def feature_importance(self) -> pd.DataFrame:
        return self._average(lambda m: m.feature_importance())

    @property
    def algorithms(self) -> list[str]:
        return sorted({a for m in self.instances for a in m.algorithms})

    def manifest(self) -> dict:
        return {
            "format": FORMAT, "format_version": self.format_version, "kind": self.kind, "labels": list(LABELS),
            "feature_names": self.feature_names,
            "instances": [{"path": f"instances/instance_{i:03d}", "weight": float(w)}
                          for i, w in enumerate(self.weights)],
            "calibration": self.calibrators,
            "thresholds": self.thresholds, "base_thresholds": self.base_thresholds,
            "training_genes": self.training_genes, "dataset_fingerprint": self.dataset_fingerprint,
            "params": self.params, "recipe": self.recipe, "base_blend": self.base_blend,
            "gene_structure": _structure_dicts(self.gene_structure),
        }

    def write_into(self, directory: Path) -> None:
        for i, member in enumerate(self.instances):
            member.write_into(directory / "instances" / f"instance_{i:03d}")
        write_json(directory / "manifest.json", self.manifest())

    @classmethod
    def from_manifest(cls, directory: Path, manifest: dict, backend: Backend) -> EnsembleModel:
        # Each instance has its own manifest, so instances of different algorithms combine as they are.
        members = [MetaModel.from_manifest(directory / spec["path"], _read_manifest(directory / spec["path"]),
                                           backend)
                   for spec in manifest["instances"]]
        return cls(instances=members, weights=[s["weight"] for s in manifest["instances"]],
                   calibrators=manifest["calibration"], thresholds=manifest["thresholds"],
                   base_thresholds=manifest["base_thresholds"], params=manifest.get("params", {}),
                   dataset_fingerprint=manifest.get("dataset_fingerprint", ""), recipe=manifest.get("recipe"),
                   base_blend=manifest.get("base_blend", 0.0), gene_structure=_structures(manifest))


def _structure_dicts(structures: dict[str, GeneStructure]) -> dict[str, dict]:
    return {who: structure.to_dict() for who, structure in structures.items()}


def _structures(manifest: dict) -> dict[str, GeneStructure]:
    """The manifest's gene structures (models saved before them have none)."""
    return {who: GeneStructure.from_dict(values) for who, values in manifest.get("gene_structure", {}).items()}


def _read_manifest(directory: Path) -> dict:
    file = directory / "manifest.json"
    if not file.is_file():
        raise GpumetaError(f"{directory}: no manifest.json; give a model directory written by gpumeta train "
                           "(RUN/model)")
    try:
        manifest = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise GpumetaError(f"{file}: not valid JSON ({exc.msg}); the model directory is damaged") from None
    if manifest.get("format") != FORMAT:
        raise GpumetaError(f"{file}: not a gpumeta model manifest (format {manifest.get('format')!r})")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise GpumetaError(f"{file}: model format version {manifest['format_version']} is newer than this "
                           f"gpumeta reads ({FORMAT_VERSION}); upgrade gpumeta")
    if tuple(manifest.get("labels", ())) != LABELS:
        raise GpumetaError(f"{file}: label order {manifest.get('labels')} differs from {list(LABELS)}")
    return manifest


MODEL_KINDS = {"single": MetaModel.from_manifest, "ensemble": EnsembleModel.from_manifest}


def load_model(path: str | Path, device: str | Backend = "auto") -> MetaModel | EnsembleModel:
    """Load any model kind gpumeta writes (single, ensemble, distributed), of any algorithm, from its directory."""
    backend = device if isinstance(device, Backend) else get_backend(device)
    directory = Path(path)
    if directory.is_dir() and not (directory / "manifest.json").exists() and (directory / "model").is_dir():
        directory = directory / "model"  # a run directory: take its model
    manifest = _read_manifest(directory)
    kind = manifest.get("kind", "single")
    if kind not in MODEL_KINDS:
        raise GpumetaError(f"{directory / 'manifest.json'}: model kind {kind!r} is unknown to this gpumeta "
                           f"version (it reads {', '.join(MODEL_KINDS)}); upgrade gpumeta")
    return MODEL_KINDS[kind](directory, manifest, backend)
