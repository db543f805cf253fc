"""Training configuration: defaults, a YAML/JSON file, and overrides, with unknown keys refused."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..calibration import METHODS
from ..errors import GpumetaError
from ..schema import LABELS

#: TrainConfig.final_model: refit on all training genes, or serve the CV folds' models averaged.
FINAL_MODELS = ("refit", "folds")


@dataclass
class BoosterParams:
    """XGBoost hyper-parameters of each one-vs-rest booster."""

    n_estimators: int = 1000  # an upper bound: early stopping on validation genes picks the number
    #: 0.3 with a patience of 8 rounds (session 6): on the 300-gene dataset of `scripts/bench_train.py`
    #: held-out macro F1 0.9595 with 607 trees over folds and final model where 0.25/12 gave 0.9590 with 793
    #: (SHAP and prediction shrink with them); judged by `scripts/study_recipe.py` (outer 5-fold gene CV,
    #: every nucleotide, tuned thresholds) FP+FN 63 vs 65 on chr22 and 68 vs 71 on the synthetic genome
    #: (docs/STUDY.md, "Booster"). 0.4/6 was worse on both (70, 77). Earlier: 0.1/30, then 0.25/12.
    learning_rate: float = 0.3
    max_depth: int = 6
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0
    #: Bounds each leaf's Newton step. Splice sites are ~0.2 % of a class's rows, so the boosting starts
    #: at a logit near -6 where the hessian is tiny: unbounded, a leaf holding a few sites among many
    #: negatives jumps by several logits and the loss oscillates upward (measured: learning_rate 0.2
    #: diverged on builder datasets; 3 keeps both 0.1 and 0.2 at the same best validation loss).
    max_delta_step: float = 3.0
    max_bin: int = 256
    early_stopping_rounds: int = 8
    #: Fixed boosting rounds per class (LABELS order), no early stopping. The workflow sets it for the final
    #: model (the CV folds' rounds) and for folds whose validation set is too small; None: early stopping.
    rounds: list[int] | None = None
    #: Start one-vs-rest learners from the base model's logit of their class (xgboost base_margin) so the
    #: trees learn corrections and keep the base model's order where they add nothing (issue 11): false,
    #: true (every class) or a list of the classes that start from it, e.g. [acceptor] (the others boost
    #: from zero; `gpumeta.model.boost_from_base_classes`).
    boost_from_base: bool | list = field(default=False, metadata={"types": (bool, list)})

    def boost_from_base_classes(self) -> list[str]:
        """The classes (LABELS order) that start from the base model's logit; [] when none do."""
        from ..model import boost_from_base_classes

        return boost_from_base_classes(self.boost_from_base)

    def xgb_params(self, device: str, nthread: int, seed: int) -> dict:
        return {
            "objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
            "device": device, "nthread": nthread, "seed": seed, "eta": self.learning_rate,
            "max_depth": self.max_depth, "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree, "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda, "max_delta_step": self.max_delta_step, "max_bin": self.max_bin,
        }


@dataclass
class ScreeningParams:
    """Global feature screening, computed once on training genes and used by every fold."""

    sample_genes: int = 500
    sample_rows: int = 50_000
    duplicate_corr: float = 0.99
    leakage_corr: float = 0.95
    auto_exclude_leaky: bool = False
    exclude_file: str | None = None


#: Keys that say how a run uses the machine, not what it computes: a resumed run may change them.
MACHINE_KEYS = ("parallel_folds", "figure_workers")


@dataclass
class TrainConfig:
    seed: int = 42
    n_folds: int = 5
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    #: A validation set early-stops a fit only if it holds at least this many sites of each type and
    #: `min_validation_genes` genes: fewer sites make the stopping round noise (one gene stopped a donor
    #: booster at round 17 on chr22 while the folds stopped at 30-221). Below it the fold takes a stated
    #: fallback (see gpumeta.train.workflow).
    min_validation_sites: int = 50
    min_validation_genes: int = 3
    #: Warn when the final model's calibrated scores on training genes fall further than this below the
    #: out-of-fold ones (mean probability at true sites, F1 at the tuned threshold).
    agreement_tolerance: float = 0.1
    calibration: str = "platt"
    #: Weight rows by 1/inclusion_prob so down-sampled easy negatives count for what they stand for.
    weight_by_inclusion: bool = False
    #: Weight of the base model's logit blended into the meta-model's calibrated probabilities, each class
    #: sigmoid((1 - w) logit(meta) + w logit(base)) (gpumeta.model.blend_with_base), before the thresholds are
    #: tuned; 0: the meta-model alone. 0.5 is the study's blend (docs/STUDY.md, session 6: over five fold
    #: draws 10 % fewer errors than the meta-model alone on chr22 and 3 % on synth). A model with a blend
    #: reads the donor_score and acceptor_score columns at prediction.
    base_blend: float = 0.0
    #: The model train serves. "refit": one more fit on all training genes for the folds' median rounds.
    #: "folds": the CV folds' own models, their margins averaged with equal weights (an ensemble; no refit),
    #: the very models whose out-of-fold margins fitted the calibration and the thresholds. Not the default:
    #: fewer errors than the refit on chr22, more on the synthetic genome (docs/STUDY.md, session 7).
    final_model: str = "refit"
    #: Fit gene-structure decoding (gpumeta.structure: a transcript's sites alternate donor, acceptor, ...) on
    #: the out-of-fold rows, for the meta-model and the base model, save it with the model, and report its
    #: calls beside the plain ones. Calls and probabilities themselves are unchanged; `gpumeta annotate`
    #: writes the decoded calls too. On (docs/STUDY.md, session 10: fewer errors for both models on chr22 and
    #: for the meta-model on the synthetic genome).
    gene_structure: bool = True
    strategy: str = "auto"
    #: multi-instance: genes per instance (None: sized to a worker's memory) and the fraction of each
    #: instance's genes also given to its neighbour.
    genes_per_instance: int | None = None
    instance_overlap: float = 0.0
    #: multi-instance: finish without instances that still fail after their retries (a loud warning says
    #: which, and how many genes no remaining instance trained on); off: the run stops naming the instance.
    allow_partial_ensemble: bool = False
    shap_genes: int = 200
    #: At most this many rows of the SHAP gene sample are explained (the original's --shap-sample).
    max_shap_rows: int = 5_000
    skip_shap: bool = False
    minimal_diagnostics: bool = False
    #: Formats of RUN/plots/ figures: PNG always (report.html embeds it); "pdf" or "svg" add a vector copy of
    #: each, at about a third more of the figures' time each (gpumeta.evaluate.plots.FIGURE_FORMATS).
    figure_formats: list = field(default_factory=lambda: ["png"])
    #: Worker processes that draw the evaluation's figures while the run computes and draws too
    #: (gpumeta.evaluate.drawing); None: one per core beside the run's, at most 4; 0: the run draws alone.
    figure_workers: int | None = None
    #: CV folds the single strategy fits at once on cpu, in threads sharing the cores out
    #: (gpumeta.train.strategies.plan_fold_concurrency; the same models); None: one more than cores, within
    #: half the free memory; 1: one fold at a time on every core. A GPU fits one fold at a time.
    parallel_folds: int | None = None
    #: feature_importance_analysis/: weight/cover/gain, permutation importance on held-out genes, mutual
    #: information and fold stability, on at most `importance_rows` held-out rows (the original's
    #: --diag-sample) and the `importance_features` features of highest gain (permutation is one predict each).
    skip_feature_importance: bool = False
    importance_rows: int = 10_000  # gpumeta.evaluate.importance.IMPORTANCE_ROWS: ~3 CPU-s of permutation
    importance_features: int = 30
    #: The learner (gpumeta.learners.ALGORITHMS) and its parameters over its defaults; for xgboost the
    #: `booster` block gives the defaults.
    algorithm: str = "xgboost"
    algorithm_params: dict = field(default_factory=dict)
    booster: BoosterParams = field(default_factory=BoosterParams)
    screening: ScreeningParams = field(default_factory=ScreeningParams)

    def validate(self) -> TrainConfig:
        from ..evaluate.plots import check_figure_formats
        from ..learners import get_algorithm
        from ..learners.base import no_shap_error

        learner = get_algorithm(self.algorithm, self.algorithm_params)  # unknown names or parameters: one line
        if not learner.explains() and not (self.skip_shap or self.minimal_diagnostics):
            raise no_shap_error(self.algorithm)
        if self.booster.boost_from_base_classes():  # unknown class names: one line
            learner.check_boost_from_base()
        if self.calibration not in METHODS:
            raise GpumetaError(f"calibration {self.calibration!r} is unknown: use one of {', '.join(METHODS)}")
        if self.n_folds < 2:
            raise GpumetaError(f"n_folds is {self.n_folds}: cross-validation needs at least 2 folds")
        for name in ("test_fraction", "validation_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise GpumetaError(f"{name} is {getattr(self, name)}: it must lie strictly between 0 and 1")
        if self.booster.n_estimators < 1 or self.booster.max_depth < 1 or not 0 < self.booster.learning_rate <= 1:
            raise GpumetaError("booster n_estimators and max_depth must be >= 1 and learning_rate in (0, 1]")
        rounds = self.booster.rounds
        if rounds is not None and (not isinstance(rounds, list) or len(rounds) != len(LABELS)
                                   or not all(isinstance(r, int) and r >= 1 for r in rounds)):
            raise GpumetaError(f"booster rounds is {rounds!r}: give {len(LABELS)} whole numbers >= 1 "
                               f"({', '.join(LABELS)}) or leave it out for early stopping")
        for name in ("min_validation_sites", "min_validation_genes"):
            if getattr(self, name) < 1:
                raise GpumetaError(f"{name} is {getattr(self, name)}: it must be at least 1")
        for name in ("max_shap_rows", "importance_rows", "importance_features"):
            if getattr(self, name) < 1:
                raise GpumetaError(f"{name} is {getattr(self, name)}: it must be at least 1")
        if not all(isinstance(f, str) for f in self.figure_formats):
            raise GpumetaError(f"figure_formats is {self.figure_formats!r}: give a list of format names")
        check_figure_formats(self.figure_formats)
        if not isinstance(self.base_blend, (int, float)) or isinstance(self.base_blend, bool) \
                or not 0 <= self.base_blend < 1:
            raise GpumetaError(f"base_blend is {self.base_blend!r}: give a weight in [0, 1) (0: the meta-model "
                               "alone, 0.5: half base model)")
        if self.final_model not in FINAL_MODELS:
            raise GpumetaError(f"final_model is {self.final_model!r}: use one of {', '.join(FINAL_MODELS)}")
        if self.figure_workers is not None and (not isinstance(self.figure_workers, int) or self.figure_workers < 0):
            raise GpumetaError(f"figure_workers is {self.figure_workers!r}: give 0 (the run draws its figures "
                               "alone), a number of worker processes, or null (one per spare core)")
        folds = self.parallel_folds
        if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int) or folds < 1):
            raise GpumetaError(f"parallel_folds is {self.parallel_folds!r}: give a number of folds fitted at once "
                               "(1: one at a time) or null (one more than cores)")
        if not 0 < self.agreement_tolerance < 1:
            raise GpumetaError(f"agreement_tolerance is {self.agreement_tolerance}: give a fraction in (0, 1)")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def recipe(self) -> dict:
        """`to_dict` without the `MACHINE_KEYS`: what must match for a run to resume."""
        return {k: v for k, v in self.to_dict().items() if k not in MACHINE_KEYS}


def _merge(target: Any, updates: dict, where: str) -> None:
    known = {f.name: f for f in fields(target)}
    for key, value in updates.items():
        if key not in known:
            raise GpumetaError(f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(known))}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise GpumetaError(f"{where}: {key!r} must be a mapping of its own keys")
            _merge(current, value, f"{where}: {key}")
        else:
            types = known[key].metadata.get("types", (type(current),))  # a key may take more than one type
            if value is not None and current is not None and not isinstance(value, types) \
                    and not (isinstance(current, float) and isinstance(value, int)):
                raise GpumetaError(f"{where}: {key!r} must be a {' or a '.join(t.__name__ for t in types)}, "
                                   f"got {value!r}")
            setattr(target, key, float(value) if isinstance(current, float) and value is not None else value)


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> TrainConfig:
    """Defaults, then the YAML/JSON file, then overrides (e.g. from CLI options); validated."""
    config = TrainConfig()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise GpumetaError(f"{path}: config file not found; give a YAML or JSON file (see configs/)")
        text = path.read_text()
        try:
            if path.suffix == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:
            raise GpumetaError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} "
                               f"({str(exc).splitlines()[0]})") from None
        if data is not None and not isinstance(data, dict):
            raise GpumetaError(f"{path}: the config must be a mapping of keys to values")
        _merge(config, data or {}, str(path))
    _merge(config, {k: v for k, v in (overrides or {}).items() if v is not None}, "option")
    return config.validate()
